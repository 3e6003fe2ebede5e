/* `normlab lesson`: the lessons. Without a name it lists them; with one it opens the lab on
 * that lesson (its race created and paused at step 0, the lesson pane shown); with
 * --headless it trains the race as `normlab train lesson:NAME` does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/lesson.h"
#include "commands.h"
#include "lab.h"
#include "ui/app.h"

static const char *LESSON_USAGE =
    "usage: normlab lesson                      list the lessons\n"
    "       normlab lesson NAME [options]       open the lab on the lesson\n"
    "       normlab lesson NAME --headless [--out DIR] [--set k=v]... [--steps N] [train options]\n"
    "\n"
    "A lesson is a race of runs and a pane that says what to ask the class, where to look\n"
    "(panel and key), what they should see, why, and what to try next. The lab opens on the\n"
    "dashboard with the race paused at step 0 and the pane shown: Space starts the race, s\n"
    "steps it once, L hides or shows the pane (Up/Down and PgUp/PgDn scroll it), ? lists\n"
    "every key. `normlab watch DIR` on the runs shows the same pane.\n"
    "\n"
    "  NAME             a lesson from the list, or a preset file with a `lesson:` map\n"
    "  --set KEY=VALUE  change a setting of every run (repeatable); a run's own settings,\n"
    "                   such as its placement, stay: --set model.layers=6\n"
    "  --steps N        same as --set train.steps=N\n"
    "  --out DIR        where runs go (the lab: DIR/lab-YYYYmmdd-HHMMSS/RUN; default runs/)\n"
    "  --headless       train the race without the lab, one run after another, each in\n"
    "                   DIR/RUN (default runs/NAME); the options of `normlab train` apply\n"
    "  --ascii, --no-color, --glyphs G, --colors C, --refresh MS   as for the lab\n";

static int list_lessons(void)
{
    printf("lessons (normlab lesson NAME opens one; --headless trains it):\n");
    int bad = 0;
    nl_config *c = malloc(sizeof *c);
    if (!c)
        return nl_app_error(1, "out of memory");
    for (int i = 0; i < nl_lesson_files_count; i++) {
        nl_error err = {0};
        const char *name = nl_lesson_files[i].name;
        if (nl_lesson_load(name, c, &err)) {
            printf("  %-18s (does not load: %s)\n", name, err.msg);
            bad = 1;
        } else {
            printf("  %-18s %s\n", name, c->lesson.title);
        }
    }
    free(c);
    return bad ? 2 : 0;
}

/* --headless: the same arguments, less --headless, as `normlab train lesson:NAME ...`. */
static int headless(int argc, char **argv, const char *name)
{
    char **args = calloc((size_t)argc + 2, sizeof *args);
    char *preset = malloc(strlen(name) + 8);
    if (!args || !preset) {
        free(args);
        free(preset);
        return nl_app_error(1, "out of memory");
    }
    snprintf(preset, strlen(name) + 8, "lesson:%s", name);
    int n = 0;
    args[n++] = "train";
    args[n++] = preset;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--headless") && argv[i] != name)
            args[n++] = argv[i];
    int rc = nl_cmd_train(n, args);
    free(args);
    free(preset);
    return rc;
}

/* Every run of the race must start: say which one cannot before the lab opens. */
static int check_race(const nl_config *cfg)
{
    int rc = 0;
    nl_config *tmp = malloc(sizeof *tmp);
    for (int i = 0; tmp && rc == 0 && i < cfg->n_runs; i++) {
        nl_error err = {0};
        if (nl_config_race_entry(cfg, i, tmp, &err))
            rc = nl_app_error(2, "%s", err.msg);
    }
    free(tmp);
    return rc;
}

int nl_cmd_lesson(int argc, char **argv)
{
    const char *name = NULL;
    int is_headless = 0;
    /* the name, --help and --headless first: --headless hands every option to train */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(LESSON_USAGE, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--headless"))
            is_headless = 1;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else if (argv[i][0] == '-' && i + 1 < argc &&
                 (!strcmp(argv[i], "--set") || !strcmp(argv[i], "--steps") ||
                  !strcmp(argv[i], "--out") || !strcmp(argv[i], "--glyphs") ||
                  !strcmp(argv[i], "--colors") || !strcmp(argv[i], "--refresh") ||
                  !strcmp(argv[i], "--device") || !strcmp(argv[i], "--threads")))
            i++; /* skip the option's value */
    }
    if (!name) {
        if (argc > 1) {
            fputs(LESSON_USAGE, stderr);
            return nl_app_error(2, "lesson: which lesson? (normlab lesson lists them)");
        }
        return list_lessons();
    }
    nl_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return nl_app_error(1, "out of memory");
    int rc = nl_app_load_lesson(name, cfg);
    if (rc || is_headless) {
        free(cfg);
        return rc ? rc : headless(argc, argv, name);
    }

    ui_lab_opts o;
    memset(&o, 0, sizeof o);
    const char **sets = calloc((size_t)argc + 1, sizeof *sets), *kv;
    long steps = -1;
    int n_sets = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        char msg[256];
        int r = term_parse_opt(&o.term, argc, argv, &i, msg, sizeof msg);
        if (r < 0)
            rc = nl_app_error(2, "%s", msg);
        else if (r > 0 || argv[i] == name)
            continue;
        else if ((kv = nl_app_set_arg(argc, argv, &i)))
            sets[n_sets++] = kv;
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            rc = nl_app_int("--steps", argv[++i], 1, 1000000000L, &steps);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            o.out_dir = argv[++i];
        else
            rc = nl_app_error(2,
                              "lesson: unknown or incomplete option '%s' (see normlab lesson "
                              "--help)",
                              argv[i]);
    }
    if (rc == 0)
        rc = nl_app_configure(cfg, sets, n_sets, steps, -1, NULL);
    if (rc == 0)
        rc = check_race(cfg);
    free(sets);
    char label[300];
    snprintf(label, sizeof label, "lesson:%s", name); /* how the setup screen names it */
    if (rc == 0) {
        o.preset = label;
        o.presets_dir = nl_app_presets_dir();
        o.lesson_start = 1;
        ui_result res = ui_lab_main(cfg, &o);
        rc = nl_lab_exit(&res);
    }
    free(cfg);
    return rc;
}
