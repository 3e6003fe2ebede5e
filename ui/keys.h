/* Every key binding of the lab in one table: the key handlers look keys up here, and the
 * help screen and the footers are printed from it, so they cannot disagree. */
#ifndef UI_KEYS_H
#define UI_KEYS_H

typedef enum {
    ACT_NONE = 0,
    /* everywhere */
    ACT_QUIT,
    ACT_HELP,
    /* the setup screen */
    ACT_START,
    ACT_FIELD_UP,
    ACT_FIELD_DOWN,
    ACT_PAGE_UP,
    ACT_PAGE_DOWN,
    ACT_PREV_CHOICE,
    ACT_NEXT_CHOICE,
    ACT_EDIT,
    ACT_RACE_ADD,
    ACT_RACE_DEL,
    ACT_RACE_FOCUS,
    ACT_LOAD,
    ACT_SAVE_PRESET,
    ACT_FIND,
    /* the dashboard */
    ACT_PAUSE,
    ACT_STEP,
    ACT_STOP,
    ACT_CKPT,
    ACT_RESTART,
    ACT_SETUP,
    ACT_SMOOTH_MORE,
    ACT_SMOOTH_LESS,
    ACT_LOGY,
    ACT_XAXIS,
    ACT_PANEL,
    ACT_HEAT_KIND,
    ACT_ZOOM,
    ACT_NEXT_RUN,
    ACT_PREV_RUN,
    ACT_TEACH,
    ACT_EXPERTS,
    ACT_LESSON,      /* show / hide the lesson pane */
    ACT_LESSON_PAGE, /* PgUp / PgDn: scroll the lesson pane by a page */
    ACT_CURSOR_LEFT, /* the cursor that reads every run's values at a step */
    ACT_CURSOR_RIGHT,
    ACT_CURSOR_OFF,
    ACT_ZOOM_IN, /* the x range of the plots */
    ACT_ZOOM_OUT,
    ACT_PAN_LEFT,
    ACT_PAN_RIGHT,
    ACT_Y_IN, /* the y range: the lower half of what it was, and back */
    ACT_Y_OUT,
    ACT_VIEW_RESET,
    ACT_HIDE_RUN,
    ACT_SHOW_ALL,
    ACT_SERIES,
    ACT_DEBIAS,
    ACT_SMOOTH_KIND,
    ACT_MESSAGES,
    ACT_PER_LAYER,
    ACT_DIFF,
    ACT_RACE_APPLY, /* setup: the field's value to every run of the race */
    ACT_RACE_SAVE,  /* setup: the form and the race as one preset */
    ACT_REPORT,     /* save an HTML report of the runs shown (ui/report.h) */
    ACT_OVERLAY     /* the sweep: every row's runs on one plot, and back to the grid */
} ui_action;

/* CTX_SWEEP: `normlab watch SWEEP_DIR`, the grid of a sweep; CTX_OVERLAY: its overlay of
 * every row's runs on one plot (o), which takes the dashboard's plot keys. */
enum { CTX_SETUP = 1, CTX_DASH = 2, CTX_SWEEP = 4, CTX_OVERLAY = 8, CTX_ANY = 15 };

typedef struct ui_binding {
    int key, key2;     /* what get_wch gives (UI_KEY(KEY_F(5)) for function keys); 0 = none */
    const char *label; /* how the help and footer name the key(s) */
    ui_action act;
    unsigned ctx;       /* CTX_SETUP, CTX_DASH, CTX_SWEEP, CTX_OVERLAY (or'ed) */
    int live;           /* needs a live run (disabled in `normlab watch`) */
    const char *footer; /* short word for the footer; NULL = help screen only */
    const char *help;   /* one line for the help screen */
} ui_binding;

const ui_binding *keys_table(int *count);
/* The binding of key in context ctx, or NULL. */
const ui_binding *keys_find(int key, unsigned ctx);

#endif
