/* Inside `normlab report` (ui/report*.c): a growable text buffer, the runs as read from
 * their directories, the notes on what was skipped, and the SVG figures. Not for other
 * files: ui/report.h is the interface. */
#ifndef UI_REPORT_INTERNAL_H
#define UI_REPORT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "engine/config.h"
#include "engine/error.h"
#include "engine/sweep.h"

/* ---- text ---- */

typedef struct rp_buf {
    char *p;
    size_t n, cap;
    int oom; /* an allocation failed: the text is incomplete */
} rp_buf;

void rp_printf(rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_puts(rp_buf *b, const char *s);
/* s with & < > " ' escaped, for HTML text and attribute values. */
void rp_html(rp_buf *b, const char *s);
void rp_buf_free(rp_buf *b);

/* ---- notes: what was skipped or is incomplete, shown in the report and on stderr ---- */

#define RP_MAX_NOTES 200

typedef struct rp_notes {
    char *text[RP_MAX_NOTES];
    int n, dropped;
    FILE *echo; /* each note is printed here too ("normlab report: ..."); may be NULL */
} rp_notes;

void rp_note(rp_notes *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_notes_free(rp_notes *ns);

/* ---- runs ---- */

typedef enum {
    RP_NO_METRICS = 0, /* no metrics.csv, or no row in it yet */
    RP_IN_PROGRESS,    /* no final event in events.log yet */
    RP_FINISHED,
    RP_STOPPED,
    RP_DIVERGED,
    RP_FAILED
} rp_state;

typedef struct rp_run {
    char dir[1024];
    char name[160]; /* what the legend and tables call the run */
    nl_config *cfg; /* config.yaml; NULL when missing or unreadable (a note says which) */
    int layers;
    int64_t n, cap;                                  /* rows read */
    int64_t *step;                                   /* (n) */
    double *time_s;                                  /* (n) */
    float *loss, *val_loss, *lr, *grad_norm, *tok_s; /* (n); val_loss NAN between evaluations */
    float *gn_attn, *gn_ffn, *rms;                   /* (n, layers) */
    long bad_lines;                                  /* lines skipped as unreadable */
    rp_state state;
    int64_t diverged_step; /* 0 unless diverged */
    int style;             /* colour, dash and marker index */
    int cell, seed;        /* of a sweep; -1 otherwise */
    /* the reference line the dashboard draws (ui/runview.h), from the config's data; NAN
     * when unknown */
    double ref_y;
    const char *ref_label; /* "floor" or "unigram" */
} rp_run;

/* Read dir's config.yaml, metrics.csv and events.log into r (name: dir's last component).
 * Whatever cannot be read becomes a note naming the file and line; only running out of
 * memory fails (-1). */
int rp_run_load(rp_run *r, const char *dir, rp_notes *ns);
void rp_run_free(rp_run *r);
const char *rp_state_name(rp_state s);

/* ---- figures (inline SVG, no script, no external reference) ---- */

#define RP_STYLES 64 /* distinct (colour, dash) pairs; the first 8 differ in both */

const char *rp_colour(int style);
const char *rp_dash(int style); /* stroke-dasharray value, "" for solid */
/* A marker of style's shape centred at (x, y), filled with its colour. */
void rp_marker(rp_buf *b, int style, double x, double y, double size);
/* A small svg of style's line and marker, for tables and headings (report_sections.c). */
void rp_key_sample(rp_buf *b, int style);

/* One curve: n points (x[i], y[i]); non-finite y breaks the line. */
typedef struct rp_series {
    const double *x, *y;
    int64_t n;
    int style;
    int points; /* drawn as markers, not a line (validation loss) */
} rp_series;

typedef struct rp_legend {
    const char *label;
    int style;
    int line, marker; /* what its sample shows */
} rp_legend;

typedef struct rp_plot {
    const char *id;    /* the svg element's id */
    const char *title; /* inside the figure, above the plot area */
    const char *xlabel, *ylabel;
    int width, height; /* of the plot, legend excluded, in CSS pixels */
    int logy;
    int x_integer;         /* x ticks at whole numbers (steps, layers) */
    const char *ref_label; /* a horizontal reference line, so labelled; NULL = none */
    double ref_y;          /* its y */
    double ymax_clip;      /* when finite: values above are clamped to it (the caption says so) */
    const rp_series *series;
    int n_series;
    const rp_legend *legend;
    int n_legend;
} rp_plot;

/* A line plot with axes, ticks, labels, a grid and the legend under it. Each line series is
 * one <path class="curve">. */
void rp_svg_plot(rp_buf *b, const rp_plot *p);

/* Per-layer heatmaps of one run: the attention and FFN gradient norms (rows = layers, L0 on
 * top; columns = steps, resampled to at most a few hundred by the max of each bucket), on
 * one log colour scale [lo, hi] shared by every run. A value exactly 0 or under 1e-6 of its
 * step's largest has vanished and has its own colour. */
void rp_svg_heatmaps(rp_buf *b, const rp_run *r, double lo, double hi, const char *id);
/* The colour scale of the heatmaps, as its own small svg. */
void rp_svg_heat_scale(rp_buf *b, double lo, double hi);
/* [lo, hi] over the gradient norms of runs that have not vanished; 0 when none. */
int rp_heat_range(rp_run *const *runs, int n, double *lo, double *hi);

/* A number for a table: 4 significant digits, "–" for NAN. */
void rp_num(rp_buf *b, double v);

/* What one report compares (report.c fills it; report_sections.c writes it out). */
typedef struct report {
    rp_run *runs;
    int n;
    rp_notes notes;
    const char *title;
    /* a sweep */
    int is_sweep;
    char sweep_dir[1024];
    nl_sweep_def def;
    nl_sweep_result *rows;
    int n_rows, have_rows, cells;
    char (*cell_names)[160];
    /* the config diff, over the runs with a config (a sweep: one run per cell) */
    int n_keys;
    const char **diff_keys; /* keys whose values differ */
    int n_diff;
} report;

/* The newest step a run's metrics reached; whether it has any metrics. */
int64_t rp_last_step(const rp_run *r);
int rp_has_data(const rp_run *r);

/* The runs that stand for the report's columns (a sweep: one run per cell) into out, at most
 * max; returns how many (report.c). */
int rp_representatives(const report *rp, rp_run **out, int max);

/* The sections of the page, in reading order (report_sections.c). put_title gets the page's
 * title into title. */
void rp_put_title(rp_buf *b, const report *rp, char *title, size_t tn);
void rp_put_notes(rp_buf *b, const report *rp);
void rp_put_summary(rp_buf *b, const report *rp);
void rp_put_loss(rp_buf *b, const report *rp);
void rp_put_heatmaps(rp_buf *b, report *rp);
void rp_put_rms(rp_buf *b, const report *rp);
void rp_put_config(rp_buf *b, const report *rp);
void rp_put_sweep(rp_buf *b, const report *rp); /* report_sweep.c */

#endif
