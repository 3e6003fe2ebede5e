/* The terminal: ncurses (wide characters) set up and torn down, colour and glyph modes
 * chosen from the terminal, the locale and the options, a grid copied to the screen, keys
 * read with a timeout, and the terminal restored on every way out (normal exit, atexit,
 * SIGINT/SIGTERM, and crash signals, which restore and re-raise). */
#ifndef UI_TERM_H
#define UI_TERM_H

#include "grid.h"

typedef enum { UI_COLOUR_MONO = 0, UI_COLOUR_8, UI_COLOUR_256 } ui_colour_mode;

typedef struct ui_term_opts {
    int ascii;          /* --ascii */
    int no_color;       /* --no-color (NO_COLOR in the environment does the same) */
    const char *glyphs; /* --glyphs braille|block|ascii, NULL = from the locale and TERM */
    const char *colors; /* --colors 256|8|mono, NULL = from the terminal */
    int refresh_ms;     /* --refresh MS: new metrics drawn at most this often; 0 = default */
} ui_term_opts;

typedef struct ui_term {
    ui_glyphs glyphs;
    ui_colour_mode colours;
    int w, h;
    ui_grid grid; /* the frame being composed, sized to the screen */
} ui_term;

/* Keys: characters as themselves, function keys as UI_KEY(KEY_...). */
#define UI_KEY(code) (0x200000 | (code))
#define UI_KEY_NONE (-1)

/* Parse the options shared by `normlab` and `normlab watch` (--ascii, --no-color,
 * --glyphs G, --colors C, --refresh MS); returns 1 when argv[*i] was one (advancing *i past a
 * value), 0 when not, -1 when its value is missing or wrong (msg says why). */
int term_parse_opt(ui_term_opts *o, int argc, char **argv, int *i, char *msg, int msglen);

/* Returns 0, or -1 with msg set (not a terminal, terminfo missing). */
int term_open(ui_term *t, const ui_term_opts *o, char *msg, int msglen);
void term_close(ui_term *t);
/* Copy t->grid to the screen and refresh (ncurses sends only what changed). */
void term_blit(ui_term *t);
/* Wait up to timeout_ms for a key; UI_KEY_NONE when none. A resize comes back as
 * UI_KEY(KEY_RESIZE) after t->w, t->h and t->grid follow the new size. */
int term_key(ui_term *t, int timeout_ms);
/* A signal asked us to quit (SIGINT, SIGTERM, SIGHUP): its number, else 0. */
int term_quit_signal(void);
/* After the terminal is restored: end the process by the signal that asked us to quit. */
void term_reraise(int sig);
/* Milliseconds on a monotonic clock. */
double term_now_ms(void);

#endif
