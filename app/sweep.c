/* normlab sweep: train the cross product of varied config keys x seeds, each run in its own
 * process (this binary re-executed with the hidden option --child RUN), record every finished
 * run in DIR/sweep.csv, and print the summary table; or, with --slurm, as a Slurm job array
 * (sweep_slurm.c). engine/sweep.h holds the file formats. */
#include "sweep_internal.h"

volatile sig_atomic_t nl_cmd_sweep_stop;

void nl_cmd_sweep_on_signal(int sig)
{
    nl_cmd_sweep_stop = sig;
}

static const char *SWEEP_USAGE =
    "usage: normlab sweep PRESET --vary KEY=V1,V2,... [--vary ...] [options]\n"
    "       normlab sweep PRESET --vary ... [options] --slurm [--sbatch-args \"ARGS\"]\n"
    "       normlab sweep --collect DIR\n"
    "\n"
    "Train every combination of the varied values, each with N seeds, headless, and print a\n"
    "table of the final validation loss. PRESET is a YAML file or a shipped preset name.\n"
    "\n"
    "options:\n"
    "  --vary KEY=V1,V2,...  a config key and its values (repeatable; the first varied key\n"
    "                        gives the table's rows, the second its columns, the others one\n"
    "                        table each), e.g. --vary model.placement=pre,post,hybrid\n"
    "  --set KEY=VALUE       override a key of the preset for every run (repeatable)\n"
    "  --steps N             same as --set train.steps=N\n"
    "  --seeds N             seeds per cell (default 1); seed s trains with train.seed + s\n"
    "  --out DIR             the sweep directory (default sweeps/NAME, NAME from the preset)\n"
    "  --jobs N              runs trained at once, each in its own process (default 1), at\n"
    "                        most one per core; each gets cores / N threads\n"
    "  --max-runs K          start at most K runs this time (run the command again to go on;\n"
    "                        with --slurm, at most K array tasks)\n"
    "  --slurm               train on a Slurm cluster instead: prepare DIR as above, write\n"
    "                        DIR/slurm/sweep-K.sbatch, a job array with one task per run not\n"
    "                        yet finished (`normlab train` of DIR/RUN/config.yaml into\n"
    "                        DIR/RUN), and submit it with sbatch (printing the job id), or\n"
    "                        print the sbatch command when sbatch is not on PATH\n"
    "  --sbatch-args \"ARGS\"  options for sbatch, e.g. \"--partition=gpu --time=2:00:00\"\n"
    "  --collect DIR         add the runs finished in DIR's run directories to sweep.csv, list\n"
    "                        the runs not finished, and print the table\n"
    "\n"
    "Writes DIR/sweep.yaml (the definition), DIR/base.yaml (the resolved base config),\n"
    "DIR/sweep.csv (a row per finished run, written as each finishes) and a run directory per\n"
    "run, DIR/CELL-sS. Running the same command again skips the runs already in sweep.csv;\n"
    "a different sweep in the same DIR is refused. Ctrl-C stops the runs in progress (they\n"
    "start over next time) and keeps the finished rows. With --slurm, running the same command\n"
    "again collects the finished runs and submits only the rest (docs/SCALE.md).\n"
    "\n"
    "Table: mean +- sd of the final validation loss over the seeds that did not diverge,\n"
    "'(k div)' when k seeds diverged, '*' on the best cell of each column (fewest diverged\n"
    "seeds, then lowest mean), '[n/N]' when only n of N seeds have run.\n"
    "exit status: 0 done (diverged runs included), 1 a run failed, 2 bad usage or input,\n"
    "130 interrupted.\n";

/* What parse_opts read, checked together (0, or the exit code after printing why). */
static int check_opts(sweep_opts *o, nl_sweep_def *d)
{
    if (o->collect) {
        if (o->preset || d->n_axes || o->slurm)
            return nl_app_error(2, "sweep: --collect DIR takes no preset, --vary or --slurm");
        return 0;
    }
    if (o->sbatch_args && !o->slurm)
        return nl_app_error(2, "sweep: --sbatch-args goes with --slurm");
    if (!o->preset)
        return nl_app_error(2, "sweep: no preset given (see normlab sweep --help)");
    if (d->n_axes == 0)
        return nl_app_error(2, "sweep: nothing to vary; give at least one --vary KEY=V1,V2,...");
    for (int a = 0; a < d->n_axes; a++)
        if (!strcmp(d->axes[a].key, "train.threads"))
            return nl_app_error(2, "--vary train.threads: threads are set by --jobs "
                                   "(cores / runs at a time)");
    /* never more busy threads than cores: at most one run per core, the cores shared out */
    int cores = nl_backend_cores();
    o->at_once = o->jobs < cores ? (int)o->jobs : cores;
    o->threads = cores / o->at_once;
    d->seeds = (int)o->seeds;
    if ((long)nl_sweep_cells(d) * o->seeds > NL_SWEEP_MAX_RUNS)
        return nl_app_error(2, "sweep: %d cells x %ld seeds is more than %d runs",
                            nl_sweep_cells(d), o->seeds, NL_SWEEP_MAX_RUNS);
    snprintf(d->preset, sizeof d->preset, "%s", o->preset);
    return 0;
}

static int parse_opts(int argc, char **argv, sweep_opts *o, nl_sweep_def *d)
{
    nl_error err = {0};
    o->seeds = 1;
    o->jobs = 1;
    o->steps = -1;
    o->max_runs = 0;
    o->child = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, *kv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
            return 0;
        } else if (!strcmp(a, "--vary") && v) {
            if (nl_sweep_add_axis(d, argv[++i], &err))
                return nl_app_error(2, "%s", err.msg);
        } else if (!strncmp(a, "--vary=", 7)) {
            if (nl_sweep_add_axis(d, a + 7, &err))
                return nl_app_error(2, "%s", err.msg);
        } else if ((kv = nl_app_set_arg(argc, argv, &i))) {
            o->sets[o->n_sets++] = kv;
        } else if (!strcmp(a, "--out") && v) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--seeds") && v) {
            if (nl_app_int("--seeds", argv[++i], 1, NL_SWEEP_MAX_SEEDS, &o->seeds))
                return 2;
        } else if (!strcmp(a, "--jobs") && v) {
            if (nl_app_int("--jobs", argv[++i], 1, 256, &o->jobs))
                return 2;
        } else if (!strcmp(a, "--steps") && v) {
            if (nl_app_int("--steps", argv[++i], 1, 1000000000L, &o->steps))
                return 2;
        } else if (!strcmp(a, "--max-runs") && v) {
            if (nl_app_int("--max-runs", argv[++i], 1, NL_SWEEP_MAX_RUNS, &o->max_runs))
                return 2;
        } else if (!strcmp(a, "--slurm")) {
            o->slurm = true;
        } else if (!strcmp(a, "--sbatch-args") && v) {
            o->sbatch_args = argv[++i];
        } else if (!strcmp(a, "--collect") && v) {
            o->collect = argv[++i];
        } else if (!strcmp(a, "--child") && v) {
            if (nl_app_int("--child", argv[++i], 0, NL_SWEEP_MAX_RUNS - 1, &o->child))
                return 2;
        } else if (a[0] == '-') {
            return nl_app_error(2,
                                "sweep: unknown or incomplete option '%s' (see normlab sweep "
                                "--help)",
                                a);
        } else if (!o->preset) {
            o->preset = a;
        } else {
            return nl_app_error(2, "sweep: more than one preset given ('%s', '%s')", o->preset, a);
        }
    }
    return check_opts(o, d);
}

/* The base config: the preset, --set, --steps. Prints and returns 2 on error. */
static int base_config(const sweep_opts *o, nl_config *c)
{
    if (nl_app_load_preset(o->preset, c))
        return 2;
    if (c->n_runs > 0)
        return nl_app_error(2,
                            "%s: a race preset (with a runs: list) cannot be swept; use a "
                            "preset without runs: and --vary the keys instead",
                            o->preset);
    return nl_app_configure(c, o->sets, o->n_sets, o->steps, -1, NULL);
}

/* ---- one run, in a child process ---- */

typedef struct child_progress {
    double last_report;
} child_progress;

/* The driver's hook in the child: "P STEP TOTAL LOSS" on stdout a few times a second. */
static void child_on_step(void *ctx, const nl_driver *d, nl_run_state st)
{
    child_progress *p = ctx;
    double t = nl_clock_s();
    if (t - p->last_report <= 0.25 && st == NL_RUN_RUNNING)
        return;
    const nl_metrics_row *row = nl_driver_last(d);
    printf("P %lld %lld %.6g\n", (long long)nl_run_step_index(d->run),
           (long long)nl_run_total_steps(d->run), row ? (double)row->loss : 0.0);
    fflush(stdout);
    p->last_report = t;
}

/* Train run `index` of the sweep into DIR/RUN. Talks to the parent on stdout:
 *   P STEP TOTAL LOSS   progress, a few times a second
 *   R ROW               the result, last: its sweep.csv row (nl_sweep_result_line)
 * Returns the exit code: 0 finished or diverged, 1 failed, 2 bad input, 130 stopped. */
static int run_child(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                     const char *dir, int index)
{
    child_progress cp = {0};
    nl_sweep_train_opts to = {
        .threads = o->threads, .stop = &nl_cmd_sweep_stop, .progress = child_on_step, .ctx = &cp};
    nl_sweep_result res;
    bool stopped = false;
    nl_error err = {0};
    int rc = nl_sweep_train_run(d, base, dir, index, &to, &res, &stopped, &err);
    if (rc)
        return nl_app_error(nl_app_exit_code(rc), "%s", err.msg);
    if (stopped)
        return 130;
    char *line = nl_sweep_result_line(d, &res);
    if (!line)
        return nl_app_error(1, "out of memory");
    printf("R %s", line);
    fflush(stdout);
    free(line);
    return 0;
}

int nl_cmd_sweep(int argc, char **argv)
{
    sweep_opts o = {0};
    o.sets = calloc((size_t)argc + 1, sizeof(char *));
    nl_sweep_def *d = malloc(sizeof *d);
    nl_config *base = malloc(sizeof *base);
    int code = 0;
    if (!o.sets || !d || !base) {
        code = nl_app_error(2, "out of memory");
        goto out;
    }
    nl_sweep_def_init(d);
    if ((code = parse_opts(argc, argv, &o, d)))
        goto out;
    if (o.help) {
        fputs(SWEEP_USAGE, stdout);
        goto out;
    }
    if (o.collect) {
        code = nl_cmd_sweep_collect(o.collect);
        goto out;
    }
    if ((code = base_config(&o, base)))
        goto out;
    char dir[PATH_MAX];
    if (o.out)
        snprintf(dir, sizeof dir, "%s", o.out);
    else
        snprintf(dir, sizeof dir, "sweeps/%s", base->name[0] ? base->name : "sweep");
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';
    if (o.child >= 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = nl_cmd_sweep_on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        code = run_child(&o, d, base, dir, (int)o.child);
    } else if (o.slurm) {
        code = nl_cmd_sweep_slurm(&o, d, base, dir);
    } else {
        code = nl_cmd_sweep_run_parent(argc, argv, &o, d, base, dir);
    }
out:
    free(o.sets);
    free(d);
    free(base);
    return code;
}
