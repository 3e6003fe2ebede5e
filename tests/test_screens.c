/* Screens as objects over the one main loop (ui/loop.h): the overlay stack keeps a pinned
 * screen on top; the dashboard screen offers its panes keys first, refuses live keys over a
 * source without live runs, opens overlays on the loop's stack, and hands a confirmed quit to
 * the source's finish. No terminal: screens are driven through their ops. */
#include <ncursesw/curses.h>
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "ui/dashscreen.h"
#include "ui/loop.h"
#include "ui/overlay.h"
#include "ui/term.h"

/* A source of three runs; `live` gives it commands and a finish that records what it got. */
typedef struct fake_source {
    ui_source src;
    ui_run runs[3];
    int active, last_run, last_cmd, ncmd, finished;
} fake_source;

static void fake_poll(ui_source *s, ui_loop *l)
{
}
static void fake_finish(ui_source *s, ui_loop *l, int next)
{
    ((fake_source *)s)->finished = next;
}
static int fake_active(ui_source *s)
{
    return ((fake_source *)s)->active;
}
static void fake_command(ui_source *s, int run, nl_cmd cmd)
{
    fake_source *f = (fake_source *)s;
    f->last_run = run;
    f->last_cmd = (int)cmd;
    f->ncmd++;
}
static const ui_source_ops watch_like = {fake_poll, NULL, NULL, NULL, NULL};
static const ui_source_ops live_ops = {fake_poll, fake_finish, fake_active, NULL, fake_command};

static void fake_init(fake_source *f, int live)
{
    memset(f, 0, sizeof *f);
    f->src.ops = live ? &live_ops : &watch_like;
    f->src.live = live;
    f->src.runs = f->runs;
    f->src.nruns = 3;
    f->last_cmd = -1;
    static const char *names[3] = {"post", "pre", "sandwich"};
    for (int i = 0; i < 3; i++) {
        runview_init(&f->runs[i], names[i], i);
        f->runs[i].st.state = NL_RUN_RUNNING;
    }
}

static void fake_free(fake_source *f)
{
    for (int i = 0; i < 3; i++)
        runview_free(&f->runs[i]);
}

static int press(dash_screen *d, ui_loop *l, int key)
{
    /* the top screen first, then down the stack, as the loop does */
    for (int i = l->nlayers - 1; i >= 0; i--)
        if (l->layers[i]->ops->key(l->layers[i], l, key))
            return i;
    return -1;
}

static void test_stack_pinned_stays_on_top(void)
{
    static ui_loop l;
    ui_loop_init(&l, NULL);
    ui_help base, help;
    ui_busy busy;
    ui_help_init(&base, CTX_DASH);
    ui_help_init(&help, CTX_DASH);
    ui_busy_init(&busy);
    ui_loop_set_base(&l, &base.base);
    ui_loop_push(&l, &busy.base);
    ui_loop_push(&l, &help.base);
    T_CHECK(l.nlayers == 3 && l.layers[1] == &help.base && l.layers[2] == &busy.base,
            "a screen pushed after a pinned one goes under it (%d layers)", l.nlayers);
    ui_loop_pop(&l, &help.base);
    T_CHECK(l.nlayers == 2 && l.layers[1] == &busy.base, "pop takes the screen off where it is");
    /* the busy overlay pops itself once the source is no longer busy (no source: never busy) */
    busy.base.ops->tick(&busy.base, &l);
    T_CHECK(l.nlayers == 1 && ui_loop_base(&l) == &base.base, "please wait stays after its source "
                                                              "is done");
    ui_loop_push(&l, &help.base);
    ui_loop_set_base(&l, &help.base);
    T_CHECK(l.nlayers == 1 && ui_loop_base(&l) == &help.base, "set_base keeps overlays");
}

static void test_dash_watch_keys(void)
{
    static ui_loop l;
    static fake_source f;
    static dash_screen d;
    ui_loop_init(&l, NULL);
    fake_init(&f, 0);
    l.src = &f.src;
    dash_screen_init(&d, &f.src, "watch");
    ui_loop_set_base(&l, &d.base);

    press(&d, &l, 'x');
    T_CHECK(strstr(l.msg, "needs a live run") != NULL, "x while watching: '%s'", l.msg);
    T_CHECK(l.nlayers == 1, "a refused key opened something");
    press(&d, &l, UI_KEY(KEY_DOWN));
    T_CHECK(d.dv.sel == 1, "Down selects the next run (sel %d)", d.dv.sel);
    /* with the message pane shown, Up/Down scroll it and leave the selection alone */
    press(&d, &l, 'm');
    T_CHECK(d.msgs.shown, "m did not show the message pane");
    press(&d, &l, UI_KEY(KEY_UP));
    press(&d, &l, UI_KEY(KEY_UP));
    T_CHECK(d.dv.sel == 1 && d.msgs.scroll == 2, "Up with the pane shown: sel %d, scroll %d",
            d.dv.sel, d.msgs.scroll);
    press(&d, &l, 'm');
    press(&d, &l, UI_KEY(KEY_UP));
    T_CHECK(d.dv.sel == 0, "Up after m hid the pane selects again (sel %d)", d.dv.sel);
    /* L without a lesson says so */
    press(&d, &l, 'L');
    T_CHECK(strstr(l.msg, "no lesson") != NULL && !d.lesson.shown, "L without a lesson: '%s'",
            l.msg);
    /* D opens the config diff over the dashboard; any other key closes it */
    press(&d, &l, 'D');
    T_CHECK(l.nlayers == 2 && l.layers[1] == &d.diff.base, "D did not push the config diff");
    T_CHECK(press(&d, &l, 'x') == 1 && l.nlayers == 1, "the diff took no key / did not close");
    /* q quits at once: the runs are another program's */
    press(&d, &l, 'q');
    T_CHECK(l.quit && l.nlayers == 1, "q while watching: quit %d, %d layers", l.quit, l.nlayers);
    fake_free(&f);
}

static void test_dash_live_keys(void)
{
    static ui_loop l;
    static fake_source f;
    static dash_screen d;
    ui_loop_init(&l, NULL);
    fake_init(&f, 1);
    f.active = 1;
    l.src = &f.src;
    dash_screen_init(&d, &f.src, "lab");
    ui_loop_set_base(&l, &d.base);

    press(&d, &l, ' ');
    T_CHECK(f.ncmd == 1 && f.last_run == -1 && f.last_cmd == NL_CMD_PAUSE,
            "Space over running runs: %d commands, run %d, cmd %d", f.ncmd, f.last_run,
            f.last_cmd);
    press(&d, &l, UI_KEY(KEY_DOWN));
    press(&d, &l, 'x');
    T_CHECK(f.last_run == 1 && f.last_cmd == NL_CMD_STOP, "x stops the selected run: run %d",
            f.last_run);
    /* q while runs are going asks; n keeps them; y hands the quit to the source */
    press(&d, &l, 'q');
    T_CHECK(l.nlayers == 2 && l.layers[1] == &d.confirm.base && !f.finished,
            "q while runs go did not ask");
    press(&d, &l, 'n');
    T_CHECK(l.nlayers == 1 && !f.finished && !l.quit, "n did not keep the runs");
    press(&d, &l, 'q');
    press(&d, &l, 'y');
    T_CHECK(f.finished == UI_NEXT_QUIT && l.nlayers == 1, "y: finish got %d", f.finished);
    /* r with nothing going restarts without asking */
    f.active = 0;
    f.finished = 0;
    press(&d, &l, 'r');
    T_CHECK(f.finished == UI_NEXT_RESTART && l.nlayers == 1, "r when idle: finish got %d",
            f.finished);
    fake_free(&f);
}

int main(void)
{
    T_RUN(test_stack_pinned_stays_on_top);
    T_RUN(test_dash_watch_keys);
    T_RUN(test_dash_live_keys);
    return t_total_failed ? 1 : 0;
}
