#include "app.h"

#include <stdlib.h>
#include <string.h>

#include "lab.h"
#include "lessonpane.h"
#include "sweepscreen.h"
#include "watch.h"

/* Run loop l (its source and base screen set) on the open terminal until it quits. */
static ui_result run(ui_loop *l)
{
    ui_result res;
    memset(&res, 0, sizeof res);
    res.signal = ui_loop_run(l);
    ui_loop_close(l);
    return res;
}

/* The terminal for l; 0, or -1 with res saying why. */
static int open_term(ui_loop *l, const ui_term_opts *t, ui_result *res)
{
    if (ui_loop_open(l, t, res->msg, (int)sizeof res->msg) == 0)
        return 0;
    res->status = UI_BAD_INPUT;
    return -1;
}

ui_result ui_lab_main(const nl_config *cfg, const ui_lab_opts *o)
{
    ui_result res = {0};
    ui_loop *l = malloc(sizeof *l);
    lab *b = malloc(sizeof *b);
    if (l)
        ui_loop_init(l, &o->term);
    if (!l || !b || lab_init(b, l, cfg, o->preset, o->presets_dir, o->out_dir)) {
        free(l);
        free(b);
        ui_result_set(&res, UI_FAILED, "out of memory");
        return res;
    }
    if (open_term(l, &o->term, &res) == 0) {
        if (o->lesson_start)
            lab_start_lesson(b, cfg);
        res = run(l);
    }
    lab_free(b);
    free(b);
    free(l);
    return res;
}

ui_result ui_watch_main(char **dirs, int n, const ui_term_opts *t, const char *note)
{
    ui_result res = {0};
    if (n > UI_MAX_RUNS) {
        ui_result_set(&res, UI_BAD_INPUT, "watch takes at most %d run directories", UI_MAX_RUNS);
        return res;
    }
    ui_loop *l = malloc(sizeof *l);
    watch_source *w = malloc(sizeof *w);
    dash_screen *d = malloc(sizeof *d);
    if (!l || !w || !d) {
        ui_result_set(&res, UI_FAILED, "out of memory");
    } else if (watch_source_open(w, dirs, n, res.msg, (int)sizeof res.msg)) {
        res.status = UI_BAD_INPUT;
    } else {
        ui_loop_init(l, t);
        l->src = &w->src;
        dash_screen_init(d, &w->src, "watch");
        ui_loop_set_base(l, &d->base);
        const nl_lesson *lesson = lessonpane_lesson(w->runs, w->src.nruns);
        dash_screen_show_lesson(d, lesson != NULL);
        if (note)
            ui_loop_msg(l, ROLE_OK, "%s", note);
        else if (lesson)
            ui_loop_msg(l, ROLE_OK, "lesson %s: L hides the pane", lesson->name);
        if (open_term(l, t, &res) == 0)
            res = run(l);
        watch_source_close(w);
    }
    free(l);
    free(w);
    free(d);
    return res;
}

ui_result ui_sweep_main(const char *dir, const ui_term_opts *t)
{
    ui_result res = {0};
    ui_loop *l = malloc(sizeof *l);
    sweep_screen *s = malloc(sizeof *s);
    if (!l || !s) {
        ui_result_set(&res, UI_FAILED, "out of memory");
    } else {
        ui_loop_init(l, t);
        if (sweep_screen_open(s, l, dir, res.msg, (int)sizeof res.msg)) {
            res.status = UI_BAD_INPUT;
        } else {
            if (open_term(l, t, &res) == 0)
                res = run(l);
            sweep_screen_close(s);
        }
    }
    free(l);
    free(s);
    return res;
}
