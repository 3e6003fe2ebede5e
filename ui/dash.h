/* The dashboard's drawing: the loss plot of every run (raw and EMA train loss, validation
 * points, entropy floor), the selected run's per-layer gradient-norm heatmap, bar strips of
 * its latest per-layer gradient norms and residual RMS (or its expert load), a status line
 * per run, and a footer. Everything draws into a grid from ui_run snapshots, so it is
 * testable without a terminal; the screen around it (keys, panes, overlays) is
 * ui/dashscreen.h. dash.c lays the screen out, dash_panels.c draws the panels,
 * dash_status.c the run lines, dash_series.c turns a run's history into plot data. */
#ifndef UI_DASH_H
#define UI_DASH_H

#include "grid.h"
#include "keys.h"
#include "plot.h"
#include "runview.h"

/* PANEL_MOE, the expert load, takes the place of the two bar strips when the selected run
 * is MoE (unless experts_off). */
enum { PANEL_LOSS = 0, PANEL_HEAT, PANEL_GRAD, PANEL_RMS, PANEL_MOE, PANEL_COUNT };

/* What the top plot shows (y cycles): the train loss (with the validation points), the
 * validation loss alone, the learning rate, the global gradient norm, tokens/s. */
enum { DS_LOSS = 0, DS_VAL, DS_LR, DS_GN, DS_TOKS, DS_COUNT };
const char *dash_series_name(int ds);

typedef struct dash_view {
    int sel;   /* selected run */
    int focus; /* PANEL_* with the focus */
    int zoom;  /* the focused panel fills the screen */
    int logy;
    int x_tokens;    /* x axis by tokens instead of steps */
    int heat_ffn;    /* heatmap and bars: FFN instead of attention */
    int experts_off; /* MoE runs: the bar strips instead of the expert load */
    int smooth;      /* index into the smoothing levels */
    int watch;       /* attached to run directories: live controls are off */
    int lesson;      /* the runs have a lesson: the footer shows its key */
    ui_glyphs glyphs;
    int mono;
    const char *title; /* top bar, e.g. "lab" */
    const char *msg;   /* a message for the top bar, NULL = none */
    int msg_role;
    double load1;    /* the machine's 1-minute load average; 0 = unknown */
    int cores;       /* the cores this process may use; 0 = unknown */
    int series;      /* DS_*: what the top plot shows */
    int x_time;      /* x axis by training time (seconds, pauses left out); wins over x_tokens */
    double xv0, xv1; /* the x window (zoom and pan), in the x axis' units; NAN = all */
    int yzoom;       /* 0: y fits the data; k > 0: the lower 1/2^k of it (under a spike) */
    int cursor;      /* the cursor is shown at cursor_x (x units): status lines read there */
    double cursor_x;
    int debias;               /* EMA from zero with the bias corrected (as TensorBoard's) */
    int smooth_window;        /* smoothing by a trailing mean over a window instead of an EMA */
    int perlayer;             /* the heatmap panel shows per-layer curves over time instead */
    plot_layout *loss_layout; /* if set, where the top plot landed (for the cursor's steps) */
} dash_view;

void dash_view_init(dash_view *v);
int dash_smooth_levels(void);
/* EMA weight of a new step at smoothing level k (1 = no smoothing). */
double dash_smooth_alpha(int k);

void dash_draw(ui_grid *g, const dash_view *v, const ui_run *runs, int n);
/* Two of its parts, for a screen that shows only these (the sweep's overlay): the top plot
 * in r with its title row (dash_panels.c), and the run lines above the footer (all of them
 * when they fit, else a window around sel and "+N"; returns the row of the first). */
void dash_draw_loss(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *runs, int n,
                    int focused, int sel);
int dash_draw_run_lines(ui_grid *g, const dash_view *v, const ui_run *runs, int n, int sel);

/* Is panel p on screen for the selected run (zoom aside)? */
int dash_panel_shown(const dash_view *v, const ui_run *run, int p);
/* The panel after v->focus that is on screen (Tab). */
int dash_next_panel(const dash_view *v, const ui_run *run);

/* A run's train loss as plot data, from its history: x (step or tokens), the mean loss of
 * each entry, its min..max, the EMA at smoothing level `smooth`, and the validation points. */
typedef struct dash_series {
    int n, nv;
    double *x, *y, *lo, *hi, *ema, *vx, *vy;
} dash_series;
/* Returns 1 with s filled (free with dash_series_free), 0 when the run has no data. */
int dash_series_build(dash_series *s, const ui_run *r, int smooth, int x_tokens);
/* The same for any history channel (CH_*), x by step, tokens (x_tokens) or time (x_time),
 * smoothed by an EMA (debiased or not) or a trailing window mean of about 1/alpha steps. */
int dash_series_build_ch(dash_series *s, const ui_run *r, int ch, const dash_view *v);
/* The x range of every shown run's data in v's x units; 0 when there is none. */
int dash_x_extent(const dash_view *v, const ui_run *runs, int n, double *lo, double *hi);
/* The smoothing window in steps of level k (window mode). */
int dash_smooth_steps(int k);
/* The history entry of r nearest to x (in v's x units); -1 when none. */
int dash_entry_at(const dash_view *v, const ui_run *r, double x);
/* Status rows the run lines take on a g->h tall screen, and runs per row (1 or 2). */
void dash_status_layout(int W, int H, int n, int *rows, int *per_row);
void dash_series_free(dash_series *s);

/* Where the panes over the lower panels go (the whole plot area when that is short), on a
 * dashboard of n runs drawn on g; h = 0 when the screen is too small for the dashboard. */
ui_rect dash_lower_rect(const ui_grid *g, const dash_view *v, int n);

/* The keys the dashboard's help lists beyond the common ones (UI_FOOTER_* of widgets.h):
 * the MoE key when a run is MoE, the lesson keys when the runs have a lesson. */
int dash_help_shown(const ui_run *runs, int n);

#endif
