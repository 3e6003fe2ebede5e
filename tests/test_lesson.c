/* Lessons: every embedded lesson loads whole; a lesson block survives config.yaml (written by
 * a run, read back by `normlab watch`), odd text included; malformed blocks name FILE:LINE:COL
 * (more cases in tests/yaml/lesson_*.yaml, run by test_config); the lesson pane draws the
 * lesson and the race at 80x24 and scrolls. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/lesson.h"
#include "engine/run.h"
#include "t.h"
#include "ui/lessonpane.h"

static nl_config *new_config(void)
{
    nl_config *c = malloc(sizeof *c);
    if (c)
        nl_config_defaults(c);
    return c;
}

static int lesson_equal(const nl_lesson *a, const nl_lesson *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->title, b->title) &&
           !strcmp(a->question, b->question) && !strcmp(a->look, b->look) &&
           !strcmp(a->expect, b->expect) && !strcmp(a->why, b->why) &&
           !strcmp(a->source, b->source) && !strcmp(a->next, b->next);
}

/* The five lessons of the lab, each with every part of the pane written, a race of at least
 * two runs that all validate and keep the lesson, a title short enough for `normlab lesson`
 * at 80 columns, and the pointer to the measured figures. */
static void test_embedded_lessons(void)
{
    static const char *const want[] = {"gradients-at-init", "warmup-depth", "residual-stream",
                                       "hybridnorm", "deep-postnorm"};
    for (int i = 0; i < 5; i++)
        T_CHECK(nl_lesson_find(want[i]) != NULL, "no embedded lesson '%s'", want[i]);
    T_CHECK(nl_lesson_files_count >= 5, "%d lessons", nl_lesson_files_count);
    nl_config *c = new_config(), *run = new_config();
    for (int i = 0; i < nl_lesson_files_count; i++) {
        const char *name = nl_lesson_files[i].name;
        if (i > 0)
            T_CHECK(strcmp(nl_lesson_files[i - 1].name, name) < 0, "not sorted at %s", name);
        nl_error err = {0};
        int rc = nl_lesson_load(name, c, &err);
        T_CHECK(rc == 0, "%s: %s", name, err.msg);
        if (rc)
            continue;
        const nl_lesson *l = &c->lesson;
        T_CHECK(!strcmp(l->name, name), "%s: lesson.name is '%s'", name, l->name);
        T_CHECK(*l->title && *l->question && *l->look && *l->expect && *l->why && *l->source &&
                    *l->next,
                "%s: a part of the lesson is empty", name);
        T_CHECK(strlen(l->title) <= 58, "%s: title of %zu characters (at most 58)", name,
                strlen(l->title));
        T_CHECK(strstr(l->expect, "(measured figures: docs/EXPERIMENTS.md)") != NULL,
                "%s: expect does not point to the measured figures", name);
        T_CHECK(strstr(l->look, "L ") != NULL && strstr(l->look, "Space") != NULL,
                "%s: look does not name the keys (Space, L)", name);
        T_CHECK(c->n_runs >= 2, "%s: a race of %d runs", name, c->n_runs);
        for (int r = 0; r < c->n_runs; r++) {
            rc = nl_config_race_entry(c, r, run, &err);
            T_CHECK(rc == 0, "%s: run %d: %s", name, r, err.msg);
            T_CHECK(rc || lesson_equal(&run->lesson, l), "%s: run %d lost the lesson", name, r);
        }
    }
    nl_error err = {0};
    T_CHECK(nl_lesson_load("no-such-lesson", c, &err) == NL_ERR_USAGE &&
                strstr(err.msg, "no lesson called 'no-such-lesson'") &&
                strstr(err.msg, "warmup-depth"),
            "unknown lesson: '%s'", err.msg);
    free(c);
    free(run);
}

/* Text that a literal block keeps and a folded one would not (leading and double spaces),
 * text that folds (paragraphs, long lines, a word longer than a line), and YAML's own
 * characters: each written to YAML and read back byte for byte. */
static void test_round_trip(void)
{
    nl_config *c = new_config(), *back = new_config();
    snprintf(c->name, sizeof c->name, "rt");
    nl_lesson *l = &c->lesson;
    snprintf(l->name, sizeof l->name, "yes");
    snprintf(l->title, sizeof l->title, "A title: with \"quotes\", # and 'apostrophes'");
    snprintf(l->question, sizeof l->question,
             "First paragraph, long enough to be folded over more than one line of the file "
             "that is written, with a colon: here and a dash - there.\nSecond paragraph.\n\n"
             "After an empty one. Résumé: ∑ over layers, ×3.");
    snprintf(l->look, sizeof l->look, "A table:\n  col1  col2\n  1     2\nend");
    snprintf(l->expect, sizeof l->expect, "two  spaces, and a trailing one \nnext line");
    memset(l->why, 'w', 300); /* one word longer than a line */
    snprintf(l->why + 300, sizeof l->why - 300, " then words");
    snprintf(l->source, sizeof l->source, "- a list-looking line\n- another: with colon");
    snprintf(l->next, sizeof l->next, "| a bar > and a chevron, %% percent, \\ backslash");
    char *text = nl_config_to_yaml(c);
    T_CHECK(text && strstr(text, "\nlesson:\n"), "no lesson block written");
    nl_error err = {0};
    int rc = text ? nl_config_load_string(back, text, strlen(text), "rt.yaml", &err) : -1;
    T_CHECK(rc == 0, "written config does not load: %s\n%s", err.msg, text ? text : "");
    T_CHECK(rc || lesson_equal(&back->lesson, l), "the lesson changed on the way:\n%s",
            text ? text : "");
    for (const char *p = text; p && *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0))
        T_CHECK(strcspn(p, "\n") <= 100 || !strncmp(p, "    wwww", 8), "a line of %zu bytes: %.40s",
                strcspn(p, "\n"), p);
    free(text);

    /* a config without a lesson writes none, and reads back without one */
    memset(&c->lesson, 0, sizeof c->lesson);
    text = nl_config_to_yaml(c);
    T_CHECK(text && !strstr(text, "lesson"), "a lesson block without a lesson");
    rc = text ? nl_config_load_string(back, text, strlen(text), "rt.yaml", &err) : -1;
    T_CHECK(rc == 0 && !back->lesson.name[0], "no lesson read back: %s", err.msg);
    free(text);

    /* the lesson's name defaults to the preset's */
    const char *y = "name: my-lesson\nlesson:\n  title: T\n  question: Q\n  look: L\n  expect: "
                    "E\n  why: W\n";
    rc = nl_config_load_string(back, y, strlen(y), "n.yaml", &err);
    T_CHECK(rc == 0 && !strcmp(back->lesson.name, "my-lesson") && !back->lesson.source[0],
            "default name: rc %d '%s' %s", rc, back->lesson.name, err.msg);
    /* --set cannot reach it */
    T_CHECK(nl_config_set(back, "lesson.title", "x", &err) == NL_ERR_USAGE &&
                strstr(err.msg, "a lesson is given as a YAML map"),
            "--set lesson.title: '%s'", err.msg);
    free(c);
    free(back);
}

/* Text a lesson may not hold (control and line-separator characters, which a double-quoted
 * value can spell as escapes) is refused at the key, naming the character; tabs and newlines
 * are fine, and what is accepted writes back and reloads the same. */
static void test_refused_characters(void)
{
    nl_config *c = new_config(), *back = new_config();
    const char *base = "lesson:\n  title: T\n  question: Q\n  look: L\n  expect: E\n";
    const struct {
        const char *why, *code;
    } bad[] = {{"\"an \\e escape\"", "U+001B"}, {"\"a bell \\a\"", "U+0007"},
               {"\"a \\r return\"", "U+000D"},   {"\"next line \\N here\"", "U+0085"},
               {"\"a C1 \\x9b\"", "U+009B"},      {"\"a line \\L separator\"", "U+2028"},
               {"\"a mark \\ufeff\"", "U+FEFF"},  {"\"del \\x7f\"", "U+007F"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char y[512];
        snprintf(y, sizeof y, "%s  why: %s\n", base, bad[i].why);
        nl_error err = {0};
        int rc = nl_config_load_string(c, y, strlen(y), "bad.yaml", &err);
        T_CHECK(rc != 0 && strstr(err.msg, "bad.yaml:6:") && strstr(err.msg, "lesson.why") &&
                    strstr(err.msg, bad[i].code),
                "why: %s: rc %d, '%s'", bad[i].why, rc, err.msg);
    }
    char y[512];
    snprintf(y, sizeof y, "%s  why: \"a\\ttab, a\\nnew line, and \\u00e9\"\n", base);
    nl_error err = {0};
    int rc = nl_config_load_string(c, y, strlen(y), "ok.yaml", &err);
    T_CHECK(rc == 0 && !strcmp(c->lesson.why, "a tab, a\nnew line, and \u00e9"),
            "tab, newline, accent: rc %d '%s' '%s'", rc, c->lesson.why, err.msg);
    char *text = rc ? NULL : nl_config_to_yaml(c);
    rc = text ? nl_config_load_string(back, text, strlen(text), "rt.yaml", &err) : -1;
    T_CHECK(rc == 0 && lesson_equal(&back->lesson, &c->lesson), "written back: %s\n%s", err.msg,
            text ? text : "");
    free(text);
    free(c);
    free(back);
}

/* A run trained from a lesson's race writes the lesson into its config.yaml, which is what
 * `normlab watch` reads: the same lesson comes back. */
static void test_run_config_keeps_lesson(void)
{
    nl_config *c = new_config(), *run = new_config(), *back = new_config();
    nl_error err = {0};
    T_CHECK(nl_lesson_load("warmup-depth", c, &err) == 0, "%s", err.msg);
    T_CHECK(nl_config_race_entry(c, c->n_runs - 1, run, &err) == 0, "%s", err.msg);
    const char *sets[] = {"model.layers=1",  "model.d_model=16", "model.heads=2",
                          "model.seq_len=8", "train.steps=1",    "data.source=markov"};
    for (int i = 0; i < 6; i++)
        T_CHECK(nl_config_set_kv(run, sets[i], &err) == 0, "%s: %s", sets[i], err.msg);
    char dir[] = "/tmp/normlab-lesson-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char rdir[PATH_MAX], path[PATH_MAX + 16];
    snprintf(rdir, sizeof rdir, "%s/%s", dir, run->name);
    nl_run_opts o = {.out_dir = rdir};
    nl_run *r = nl_run_create(run, &o, &err);
    T_CHECK(r != NULL, "run: %s", err.msg);
    if (r) {
        T_CHECK(nl_run_step(r, &err) != NL_RUN_FAILED, "step: %s", err.msg);
        nl_run_free(r);
    }
    snprintf(path, sizeof path, "%s/config.yaml", rdir);
    int rc = nl_config_load_file(back, path, &err);
    T_CHECK(rc == 0, "%s", err.msg);
    T_CHECK(rc || (lesson_equal(&back->lesson, &c->lesson) && !strcmp(back->name, "post-warmup") &&
                   back->train.warmup == 100),
            "config.yaml: lesson '%s', run '%s', warmup %d", back->lesson.name, back->name,
            back->train.warmup);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0, "cleanup");
    free(c);
    free(run);
    free(back);
}

static int grid_has(const ui_grid *g, const char *s)
{
    char buf[2048];
    for (int y = 0; y < g->h; y++) {
        grid_row_utf8(g, y, buf, sizeof buf);
        if (strstr(buf, s))
            return y + 1;
    }
    return 0;
}

/* The pane at 80x24 over a race of three: the title, the question, every run with its
 * colour, the keys on the edge; the status lines below stay free; scrolling moves the text
 * and stops at the end; at 60x16 it still draws, and below that it does not. */
static void test_pane(void)
{
    nl_config *c = new_config();
    nl_error err = {0};
    T_CHECK(nl_lesson_load("gradients-at-init", c, &err) == 0, "%s", err.msg);
    ui_run runs[3];
    for (int i = 0; i < 3; i++) {
        nl_config rc;
        T_CHECK(nl_config_race_entry(c, i, &rc, &err) == 0, "%s", err.msg);
        runview_init(&runs[i], rc.name, i);
        runview_set_config(&runs[i], &rc);
        runs[i].st.state = NL_RUN_PAUSED;
    }
    T_CHECK(lessonpane_lesson(runs, 3) == &runs[0].cfg->lesson, "the runs' lesson not found");
    T_CHECK(lessonpane_lesson(runs, 0) == NULL, "a lesson out of no runs");
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 80, 24);
    grid_clear(&g);
    int scroll = -5;
    lessonpane_draw(&g, &v, &c->lesson, runs, 3, &scroll);
    T_CHECK(scroll == 0, "scroll not clamped up: %d", scroll);
    T_CHECK(grid_has(&g, "Lesson · gradients-at-init") == 2, "no title on the box's top edge");
    T_CHECK(grid_has(&g, "Question") && grid_has(&g, "Which layers get the largest"),
            "no question");
    int y = grid_has(&g, "pre, 12 layers");
    T_CHECK(y > 0, "the race's runs are not listed");
    if (y > 0) {
        ui_cell *cell = grid_at(&g, 4, y - 1); /* "pre", the third run, in its run's colour */
        T_CHECK(cell && cell->role == ROLE_SERIES0 + 2, "run colour role %d",
                cell ? cell->role : -1);
    }
    /* rows 1-19: the pane; 20-22: the three status lines; 23: the footer */
    T_CHECK(grid_has(&g, "Space starts · L hides") == 20, "no keys on the bottom edge (row 19)");
    T_CHECK(grid_has(&g, "more below"), "no sign of more text");
    for (int row = 20; row < 24; row++) {
        char buf[256];
        grid_row_utf8(&g, row, buf, sizeof buf);
        T_CHECK(!buf[0], "row %d (status lines, footer) drawn over: '%s'", row, buf);
    }

    /* scrolled to the end: the last section, and no further */
    scroll = 1000;
    grid_clear(&g);
    lessonpane_draw(&g, &v, &c->lesson, runs, 3, &scroll);
    T_CHECK(scroll > 0 && scroll < 1000, "scroll not clamped down: %d", scroll);
    const char *last_word = strrchr(c->lesson.next, ' ') + 1;
    T_CHECK(grid_has(&g, "Try next") && grid_has(&g, last_word) && !grid_has(&g, "Question") &&
                !grid_has(&g, "more below"),
            "the end of the text ('%s') is not shown", last_word);
    /* once a run has stepped, Space no longer starts anything */
    runs[0].last_step = 1;
    grid_clear(&g);
    lessonpane_draw(&g, &v, &c->lesson, runs, 3, &scroll);
    T_CHECK(grid_has(&g, "L hides") && !grid_has(&g, "Space starts"), "Space hint after a step");

    grid_resize(&g, 60, 16);
    grid_clear(&g);
    scroll = 0;
    lessonpane_draw(&g, &v, &c->lesson, runs, 3, &scroll);
    T_CHECK(grid_has(&g, "Question"), "nothing at 60x16");
    grid_resize(&g, 59, 16);
    grid_clear(&g);
    lessonpane_draw(&g, &v, &c->lesson, runs, 3, &scroll);
    T_CHECK(!grid_has(&g, "Question"), "drawn on a screen too small for the dashboard");
    grid_free(&g);
    for (int i = 0; i < 3; i++)
        runview_free(&runs[i]);
    free(c);
}

int main(void)
{
    T_RUN(test_embedded_lessons);
    T_RUN(test_round_trip);
    T_RUN(test_refused_characters);
    T_RUN(test_run_config_keeps_lesson);
    T_RUN(test_pane);
    T_END();
}
