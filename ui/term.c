#include "term.h"
#include "engine/clock.h"

#include <langinfo.h>
#include <locale.h>
#include <ncursesw/curses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* State the signal handlers need: whether curses owns the terminal. */
static volatile sig_atomic_t curses_on;
static volatile sig_atomic_t quit_sig;
static SCREEN *screen;

double term_now_ms(void)
{
    return nl_clock_s() * 1e3;
}

static void restore_terminal(void)
{
    if (curses_on) {
        curses_on = 0;
        endwin();
    }
}

static void on_crash(int sig)
{
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_quit(int sig)
{
    if (quit_sig) { /* asked twice: stop waiting for a clean shutdown */
        on_crash(sig);
        return;
    }
    quit_sig = sig;
}

int term_quit_signal(void)
{
    return quit_sig;
}

void term_reraise(int sig)
{
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static const int crash[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
    static const int quit[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < sizeof crash / sizeof *crash; i++)
        sigaction(crash[i], &sa, NULL);
    sa.sa_handler = on_quit;
    sa.sa_flags = 0;
    for (size_t i = 0; i < sizeof quit / sizeof *quit; i++)
        sigaction(quit[i], &sa, NULL);
    atexit(restore_terminal);
}

int term_parse_opt(ui_term_opts *o, int argc, char **argv, int *i, char *msg, int msglen)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--ascii")) {
        o->ascii = 1;
        return 1;
    }
    if (!strcmp(a, "--no-color") || !strcmp(a, "--no-colour")) {
        o->no_color = 1;
        return 1;
    }
    if (!strcmp(a, "--refresh")) {
        char *end = NULL;
        long v = *i + 1 < argc ? strtol(argv[*i + 1], &end, 10) : -1;
        if (*i + 1 >= argc || !end || *end || v < 100 || v > 10000) {
            snprintf(msg, (size_t)msglen,
                     "--refresh: expected milliseconds in [100, 10000], got '%s'",
                     *i + 1 < argc ? argv[*i + 1] : "");
            return -1;
        }
        o->refresh_ms = (int)v;
        ++*i;
        return 1;
    }
    const char **dst = !strcmp(a, "--glyphs")   ? &o->glyphs
                       : !strcmp(a, "--colors") ? &o->colors
                                                : NULL;
    if (!dst)
        return 0;
    if (*i + 1 >= argc) {
        snprintf(msg, (size_t)msglen, "%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    int ok = dst == &o->glyphs
                 ? (!strcmp(v, "braille") || !strcmp(v, "block") || !strcmp(v, "ascii"))
                 : (!strcmp(v, "256") || !strcmp(v, "8") || !strcmp(v, "mono"));
    if (!ok) {
        snprintf(msg, (size_t)msglen, "%s: expected %s, got '%s'", a,
                 dst == &o->glyphs ? "braille, block or ascii" : "256, 8 or mono", v);
        return -1;
    }
    *dst = v;
    return 1;
}

/* Colours of the roles: fg in 256 colours, fg in 8 colours, attributes (all modes) and
 * extra attributes without colour. -1 = the terminal's default. */
typedef struct role_style {
    short fg256, fg8;
    short bg256, bg8;
    attr_t attr, mono;
} role_style;

static role_style style_of(int role)
{
    static const short series256[8] = {39, 208, 76, 199, 226, 51, 141, 250};
    static const short series8[8] = {COLOR_BLUE, COLOR_YELLOW, COLOR_GREEN, COLOR_MAGENTA,
                                     COLOR_CYAN, COLOR_RED,    COLOR_WHITE, COLOR_BLUE};
    /* cold to hot: navy, blue, cyan, green, yellow, orange, red */
    static const short heat256[16] = {17, 18, 19, 20,  26,  32,  38,  44,
                                      43, 41, 76, 112, 184, 214, 208, 196};
    static const short heat8[16] = {COLOR_BLUE,  COLOR_BLUE,   COLOR_BLUE,   COLOR_CYAN,
                                    COLOR_CYAN,  COLOR_CYAN,   COLOR_GREEN,  COLOR_GREEN,
                                    COLOR_GREEN, COLOR_YELLOW, COLOR_YELLOW, COLOR_YELLOW,
                                    COLOR_RED,   COLOR_RED,    COLOR_RED,    COLOR_MAGENTA};
    role_style s = {-1, -1, -1, -1, 0, 0};
    if (role >= ROLE_SERIES0 && role < ROLE_SERIES0 + UI_SERIES_COLOURS) {
        s.fg256 = series256[role - ROLE_SERIES0];
        s.fg8 = series8[role - ROLE_SERIES0];
        return s;
    }
    if (role >= ROLE_FAINT0 && role < ROLE_FAINT0 + UI_SERIES_COLOURS) {
        s.fg256 = series256[role - ROLE_FAINT0];
        s.fg8 = series8[role - ROLE_FAINT0];
        s.attr = A_DIM;
        s.mono = A_DIM;
        return s;
    }
    if (role >= ROLE_HEAT0 && role < ROLE_HEAT0 + UI_HEAT_LEVELS) {
        int k = role - ROLE_HEAT0;
        s.fg256 = heat256[k];
        s.fg8 = heat8[k];
        return s;
    }
    if (role >= ROLE_HEATBG0 && role < ROLE_HEATBG0 + UI_HEAT_LEVELS) {
        /* text on the ramp colour: white on the dark end, black on the bright end */
        int k = role - ROLE_HEATBG0;
        s.bg256 = heat256[k];
        s.fg256 = k < 5 ? 231 : 16;
        s.bg8 = heat8[k];
        s.fg8 = heat8[k] == COLOR_BLUE || heat8[k] == COLOR_RED || heat8[k] == COLOR_MAGENTA
                    ? COLOR_WHITE
                    : COLOR_BLACK;
        return s;
    }
    /* fg256, fg8, bg256, bg8, attr (colour), attr (monochrome); -1: the terminal's default */
    static const role_style fixed[ROLE_COUNT] = {
        [ROLE_DIM] = {244, COLOR_WHITE, -1, -1, A_DIM, A_DIM},
        [ROLE_TITLE] = {75, COLOR_CYAN, -1, -1, A_BOLD, A_BOLD},
        [ROLE_FOCUS] = {16, COLOR_BLACK, 75, COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD},
        [ROLE_AXIS] = {245, COLOR_WHITE, -1, -1, 0, 0},
        [ROLE_SELECT] = {-1, -1, -1, -1, A_REVERSE, A_REVERSE},
        [ROLE_EDIT] = {16, COLOR_BLACK, 220, COLOR_YELLOW, 0, A_REVERSE | A_UNDERLINE},
        [ROLE_ERROR] = {196, COLOR_RED, -1, -1, A_BOLD, A_BOLD},
        [ROLE_OK] = {76, COLOR_GREEN, -1, -1, 0, 0},
        [ROLE_KEY] = {220, COLOR_YELLOW, -1, -1, A_BOLD, A_BOLD},
        [ROLE_FLOOR] = {244, COLOR_WHITE, -1, -1, 0, A_DIM},
        [ROLE_VAL] = {231, COLOR_WHITE, -1, -1, A_BOLD, A_BOLD},
        [ROLE_READY] = {250, COLOR_WHITE, -1, -1, 0, 0},
        [ROLE_RUNNING] = {76, COLOR_GREEN, -1, -1, A_BOLD, 0},
        [ROLE_PAUSED] = {220, COLOR_YELLOW, -1, -1, A_BOLD, A_UNDERLINE},
        [ROLE_FINISHED] = {75, COLOR_CYAN, -1, -1, 0, 0},
        [ROLE_DIVERGED] = {196, COLOR_RED, -1, -1, A_BOLD, A_BOLD | A_REVERSE},
        [ROLE_STOPPED] = {244, COLOR_WHITE, -1, -1, 0, 0},
        [ROLE_FAILED] = {201, COLOR_MAGENTA, -1, -1, A_BOLD, A_BOLD | A_REVERSE},
        [ROLE_CELL_DIV] = {231, COLOR_WHITE, 160, COLOR_RED, A_BOLD, A_BOLD | A_REVERSE},
        [ROLE_CELL_EMPTY] = {250, COLOR_BLACK, 238, COLOR_WHITE, 0, A_DIM},
        /* off the heat ramp (navy..red) so a vanished cell never reads as a cold one */
        [ROLE_VANISHED] = {201, COLOR_WHITE, -1, -1, A_BOLD, A_BOLD},
    };
    if (role > ROLE_NORMAL && role < ROLE_COUNT)
        s = fixed[role];
    return s;
}

static attr_t role_attr[ROLE_COUNT];
static short role_pair[ROLE_COUNT];

/* Roles with the same colours share a pair, so 8-colour terminals with 64 pairs have
 * enough for every role. 0 when the terminal has no pair left. */
static short pair_for(short fg, short bg)
{
    static short pfg[ROLE_COUNT + 1], pbg[ROLE_COUNT + 1];
    static int used;
    if (fg == -2) { /* reset */
        used = 0;
        return 0;
    }
    for (int i = 1; i <= used; i++)
        if (pfg[i] == fg && pbg[i] == bg)
            return (short)i;
    if (used + 1 >= COLOR_PAIRS || used + 1 > ROLE_COUNT ||
        init_pair((short)(used + 1), fg, bg) != OK)
        return 0;
    used++;
    pfg[used] = fg;
    pbg[used] = bg;
    return (short)used;
}

static void init_palette(ui_term *t)
{
    pair_for(-2, -2);
    for (int r = 0; r < ROLE_COUNT; r++) {
        role_style s = style_of(r);
        role_pair[r] = 0;
        if (t->colours == UI_COLOUR_MONO) {
            role_attr[r] = s.mono;
            continue;
        }
        role_attr[r] = s.attr;
        /* 8 colours make a coarse ramp: bold gives each colour a brighter second step */
        if (t->colours == UI_COLOUR_8 && r >= ROLE_HEAT0 && r < ROLE_HEAT0 + UI_HEAT_LEVELS &&
            (r - ROLE_HEAT0) % 3 == 2)
            role_attr[r] |= A_BOLD;
        short fg = t->colours == UI_COLOUR_256 ? s.fg256 : s.fg8;
        short bg = t->colours == UI_COLOUR_256 ? s.bg256 : s.bg8;
        if (r == ROLE_NORMAL || (fg < 0 && bg < 0))
            continue;
        role_pair[r] = pair_for(fg, bg);
    }
}

static ui_glyphs pick_glyphs(const ui_term_opts *o)
{
    if (o->ascii)
        return UI_GLYPH_ASCII;
    if (o->glyphs) {
        if (!strcmp(o->glyphs, "ascii"))
            return UI_GLYPH_ASCII;
        if (!strcmp(o->glyphs, "block"))
            return UI_GLYPH_BLOCK;
        return UI_GLYPH_BRAILLE;
    }
    const char *cs = nl_langinfo(CODESET);
    if (!cs || (strcasecmp(cs, "UTF-8") && strcasecmp(cs, "utf8")))
        return UI_GLYPH_ASCII;
    /* the Linux console's fonts have block elements but no braille */
    const char *term = getenv("TERM");
    if (term && !strncmp(term, "linux", 5))
        return UI_GLYPH_BLOCK;
    return UI_GLYPH_BRAILLE;
}

int term_open(ui_term *t, const ui_term_opts *o, char *msg, int msglen)
{
    memset(t, 0, sizeof *t);
    setlocale(LC_ALL, "");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(msg, (size_t)msglen, "a terminal is needed (stdin and stdout must be a tty)");
        return -1;
    }
    t->glyphs = pick_glyphs(o);
    install_handlers();
    screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        snprintf(msg, (size_t)msglen, "cannot start the terminal (TERM=%s)",
                 getenv("TERM") ? getenv("TERM") : "");
        return -1;
    }
    set_term(screen);
    {
        /* a terminal that cannot move the cursor (TERM=dumb, or unset) would show a blank
         * screen: refuse it with the reason */
        char *cup = tigetstr("cup");
        if (!cup || cup == (char *)-1) {
            endwin();
            delscreen(screen);
            screen = NULL;
            const char *tn = getenv("TERM");
            snprintf(msg, (size_t)msglen,
                     "TERM=%s cannot move the cursor, which the lab needs; run it in a terminal "
                     "such as xterm, screen or tmux (e.g. TERM=xterm-256color), or use `normlab "
                     "train` for plain progress lines",
                     tn && *tn ? tn : "(unset)");
            return -1;
        }
    }
    curses_on = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    t->colours = UI_COLOUR_MONO;
    const char *nc = getenv("NO_COLOR");
    int want_colour = !o->no_color && !(nc && *nc) && !(o->colors && !strcmp(o->colors, "mono"));
    if (want_colour && has_colors() && start_color() == OK) {
        use_default_colors();
        t->colours = COLORS >= 256 ? UI_COLOUR_256 : COLORS >= 8 ? UI_COLOUR_8 : UI_COLOUR_MONO;
        if (o->colors && !strcmp(o->colors, "8") && t->colours == UI_COLOUR_256)
            t->colours = UI_COLOUR_8;
    }
    init_palette(t);
    getmaxyx(stdscr, t->h, t->w);
    if (grid_init(&t->grid, t->w, t->h) != 0) {
        term_close(t);
        snprintf(msg, (size_t)msglen, "out of memory");
        return -1;
    }
    return 0;
}

void term_close(ui_term *t)
{
    restore_terminal();
    if (screen) {
        delscreen(screen);
        screen = NULL;
    }
    grid_free(&t->grid);
}

void term_blit(ui_term *t)
{
    ui_grid *g = &t->grid;
    int ascii = t->glyphs == UI_GLYPH_ASCII;
    for (int y = 0; y < g->h && y < t->h; y++) {
        for (int x = 0; x < g->w && x < t->w; x++) {
            const ui_cell *c = &g->cells[(size_t)y * g->w + x];
            wchar_t wc[2] = {ascii ? grid_ascii_fold(c->ch) : c->ch, 0};
            if (wc[0] < 32)
                wc[0] = L' ';
            attr_t a = c->role < ROLE_COUNT ? role_attr[c->role] : 0;
            short pair = c->role < ROLE_COUNT ? role_pair[c->role] : 0;
            if (c->attr & UI_A_BOLD)
                a |= A_BOLD;
            if (c->attr & UI_A_REVERSE)
                a |= A_REVERSE;
            if (c->attr & UI_A_UNDERLINE)
                a |= A_UNDERLINE;
            if (c->attr & UI_A_DIM)
                a |= A_DIM;
            cchar_t cc;
            setcchar(&cc, wc, a, pair, NULL);
            mvadd_wch(y, x, &cc);
        }
    }
    refresh();
}

int term_key(ui_term *t, int timeout_ms)
{
    timeout(timeout_ms < 0 ? 0 : timeout_ms);
    wint_t ch;
    int r = get_wch(&ch);
    if (r == ERR)
        return UI_KEY_NONE;
    if (r == KEY_CODE_YES) {
        if (ch == KEY_RESIZE) {
            getmaxyx(stdscr, t->h, t->w);
            grid_resize(&t->grid, t->w, t->h);
            clear();
        }
        return UI_KEY((int)ch);
    }
    return (int)ch;
}
