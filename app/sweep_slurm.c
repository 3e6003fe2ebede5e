/* normlab sweep --slurm: the sweep as a Slurm job array, one task per run not yet finished,
 * each `normlab train` of DIR/RUN/config.yaml into DIR/RUN; and --collect DIR, which adds the
 * runs finished there to sweep.csv (nl_sweep_collect) and prints the table, so one directory
 * serves whether its runs were trained here or on a cluster (docs/SCALE.md). */
#include <wordexp.h>

#include "../engine/fsutil.h"
#include "sweep_internal.h"

/* The runs in each state, by name, on one line of stderr ("not started: a, b, ..."). */
static void list_runs(const nl_sweep_def *d, const nl_sweep_run_status *st,
                      nl_sweep_run_status want, const char *what)
{
    int cells = nl_sweep_cells(d), n = 0, shown = 0;
    for (int i = 0; i < nl_sweep_runs(d); i++)
        n += st[i] == want;
    if (n == 0)
        return;
    fprintf(stderr, "normlab: %d %s:", n, what);
    for (int i = 0; i < nl_sweep_runs(d) && shown < 12; i++) {
        if (st[i] != want)
            continue;
        char name[512];
        nl_sweep_run_name(d, i % cells, i / cells, name, sizeof name);
        fprintf(stderr, "%s %s", shown++ ? "," : "", name);
    }
    fprintf(stderr, "%s\n", n > shown ? ", ..." : "");
}

/* Collect DIR and say where its runs stand. Returns the number of runs finished, or -1 after
 * printing the error. A finished run that cannot be read is listed as failed, its error
 * printed. */
static int collect_and_report(const char *dir, const nl_sweep_def *d, nl_sweep_run_status *st)
{
    nl_error err = {0};
    int unreadable = 0;
    if (nl_sweep_collect(dir, d, st, &unreadable, &err)) {
        nl_app_error(1, "%s", err.msg);
        return -1;
    }
    if (unreadable)
        nl_app_error(1, "%s%s", err.msg, unreadable > 1 ? " (and more runs like it)" : "");
    int runs = nl_sweep_runs(d), done = 0, now = 0;
    for (int i = 0; i < runs; i++) {
        done += st[i] == NL_SWEEP_RUN_IN_CSV || st[i] == NL_SWEEP_RUN_COLLECTED;
        now += st[i] == NL_SWEEP_RUN_COLLECTED;
    }
    fprintf(stderr, "normlab: sweep %s: %d of %d runs finished (%d collected now)\n", dir, done,
            runs, now);
    list_runs(d, st, NL_SWEEP_RUN_STARTED, "started, not finished (running, or killed)");
    list_runs(d, st, NL_SWEEP_RUN_STOPPED, "stopped");
    list_runs(d, st, NL_SWEEP_RUN_FAILED, "failed (see their events.log)");
    list_runs(d, st, NL_SWEEP_RUN_MISSING, "not started");
    fflush(stderr);
    return done;
}

int nl_cmd_sweep_collect(const char *dir)
{
    char sy[PATH_MAX + 16];
    snprintf(sy, sizeof sy, "%s/sweep.yaml", dir);
    nl_sweep_def *d = malloc(sizeof *d);
    nl_sweep_run_status *st = calloc(NL_SWEEP_MAX_RUNS, sizeof *st);
    nl_error err = {0};
    int code = 0;
    if (!d || !st)
        code = nl_app_error(1, "out of memory");
    else if (access(sy, F_OK) != 0)
        code = nl_app_error(2, "%s is not a sweep directory (no sweep.yaml)", dir);
    else if (nl_sweep_def_load(sy, d, &err))
        code = nl_app_error(2, "%s", err.msg);
    else if (collect_and_report(dir, d, st) < 0)
        code = 1;
    else
        code = nl_cmd_sweep_print_table(d, dir);
    for (int i = 0; code == 0 && i < nl_sweep_runs(d); i++)
        if (st[i] == NL_SWEEP_RUN_FAILED)
            code = 1;
    free(d);
    free(st);
    return code;
}

/* s in single quotes for a POSIX shell. */
static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        fputs(*s == '\'' ? "'\\''" : (char[]){*s, 0}, f);
    fputc('\'', f);
}

/* Write each pending run's config.yaml into its run directory (what its task trains) and
 * the task list: line i + 1 names the run of array task i. */
static int write_tasks(const nl_sweep_def *d, const nl_config *base, const char *dir,
                       const int *pending, int n, const char *list)
{
    int cells = nl_sweep_cells(d);
    FILE *f = fopen(list, "w");
    if (!f)
        return nl_app_error(2, "%s: cannot write: %s", list, strerror(errno));
    int code = 0;
    for (int k = 0; k < n && !code; k++) {
        int i = pending[k];
        nl_config c;
        nl_error err = {0};
        char name[512], path[PATH_MAX + 600];
        nl_sweep_run_name(d, i % cells, i / cells, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (nl_sweep_run_config(d, base, i % cells, i / cells, &c, &err) ||
            nl_mkdir_p(path, &err)) {
            code = nl_app_error(2, "%s", err.msg);
            break;
        }
        char *yaml = nl_config_to_yaml(&c);
        if (!yaml) {
            code = nl_app_error(1, "out of memory");
            break;
        }
        snprintf(path, sizeof path, "%s/%s/config.yaml", dir, name);
        if (nl_write_file_atomic(path, yaml, strlen(yaml), &err))
            code = nl_app_error(2, "%s", err.msg);
        free(yaml);
        fprintf(f, "%s\n", name);
    }
    if (fclose(f) && !code)
        code = nl_app_error(2, "%s: cannot write: %s", list, strerror(errno));
    return code;
}

/* The job array script of submission k: n tasks over the runs listed in list. */
static int write_script(const char *path, const char *exe, const char *dir, const char *name, int k,
                        int n, const char *list)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return nl_app_error(2, "%s: cannot write: %s", path, strerror(errno));
    fprintf(
        f,
        "#!/bin/sh\n"
        "# normlab sweep %s on Slurm, submission %d: a job array of %d task%s, one per run of\n"
        "# the sweep not finished when it was written (normlab sweep ... --slurm).\n"
        "# Array task i trains the run named on line i+1 of %s\n"
        "# with `normlab train` of RUN/config.yaml into RUN (a directory of the sweep), then\n"
        "# adds the finished runs to sweep.csv (normlab sweep --collect), which `normlab watch`\n"
        "# and the table read. Options given to sbatch override the #SBATCH lines below.\n"
        "#SBATCH --job-name=normlab-%s\n"
        "#SBATCH --array=0-%d\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --output=%s/slurm/%%A_%%a.log\n\n",
        name, k, n, n == 1 ? "" : "s", list, name, n - 1, dir);
    fputs("NORMLAB=", f);
    sh_quote(f, exe);
    fputs("\nSWEEP=", f);
    sh_quote(f, dir);
    fputs("\nTASKS=", f);
    sh_quote(f, list);
    fputs("\n\n"
          "run=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$TASKS\")\n"
          "if [ -z \"$run\" ]; then\n"
          "    echo \"normlab: array task $SLURM_ARRAY_TASK_ID has no run in $TASKS\" >&2\n"
          "    exit 2\n"
          "fi\n"
          "# an earlier attempt at this run (stopped, killed, requeued) starts over, as in a\n"
          "# local sweep: train refuses a directory that holds another run's checkpoints\n"
          "rm -f \"$SWEEP/$run\"/ckpt-*.nlck \"$SWEEP/$run\"/ckpt-*.nlck.tmp\n"
          "# threads: the CPUs Slurm gave the task (sbatch --cpus-per-task; 1 by default)\n"
          "\"$NORMLAB\" train \"$SWEEP/$run/config.yaml\" --out \"$SWEEP/$run\" "
          "--threads \"${SLURM_CPUS_PER_TASK:-1}\"\n"
          "rc=$?\n"
          "\"$NORMLAB\" sweep --collect \"$SWEEP\" >/dev/null\n"
          "exit $rc\n",
          f);
    if (fclose(f))
        return nl_app_error(2, "%s: cannot write: %s", path, strerror(errno));
    chmod(path, 0755);
    return 0;
}

/* sbatch's path when it is on PATH (into buf), else NULL. */
static const char *find_sbatch(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, len, "%.*s/sbatch", (int)n, n ? path : ".");
        if (access(buf, X_OK) == 0)
            return buf;
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Run sbatch --parsable [ARGS] SCRIPT; its stdout (the job id) into id. Returns an exit code. */
static int run_sbatch(const char *sbatch, const char *args, const char *script, char *id,
                      size_t len)
{
    wordexp_t we = {0};
    int wr = args ? wordexp(args, &we, WRDE_NOCMD | WRDE_UNDEF) : 0;
    if (wr)
        return nl_app_error(2, "--sbatch-args \"%s\": not a list of shell words%s", args,
                            wr == WRDE_CMDSUB ? " ($(...) and `...` are not run)" : "");
    char **av = calloc(we.we_wordc + 4, sizeof *av);
    int p[2], code = 0;
    if (!av || pipe2(p, O_CLOEXEC)) {
        free(av);
        wordfree(&we);
        return nl_app_error(1, "sweep: cannot run sbatch: %s", strerror(errno));
    }
    size_t n = 0;
    av[n++] = (char *)sbatch;
    av[n++] = "--parsable";
    for (size_t i = 0; i < we.we_wordc; i++)
        av[n++] = we.we_wordv[i];
    av[n++] = (char *)script;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        execv(sbatch, av);
        dprintf(2, "normlab: cannot run %s: %s\n", sbatch, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t r;
    while (pid > 0 && got + 1 < len &&
           ((r = read(p[0], id + got, len - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        got += r > 0 ? (size_t)r : 0;
    id[got] = '\0';
    id[strcspn(id, ";\n")] = '\0'; /* "JOBID[;CLUSTER]" */
    close(p[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !id[0])
        code = nl_app_error(1, "sbatch %s did not submit the job (see its message above)", script);
    free(av);
    wordfree(&we);
    return code;
}

/* The runs to submit: not finished, at most --max-runs. Returns how many (pending[]). */
static int pending_runs(const sweep_opts *o, const nl_sweep_def *d, const nl_sweep_run_status *st,
                        int *pending)
{
    int n = 0, started = 0;
    for (int i = 0; i < nl_sweep_runs(d); i++) {
        if (st[i] == NL_SWEEP_RUN_IN_CSV || st[i] == NL_SWEEP_RUN_COLLECTED)
            continue;
        if (o->max_runs > 0 && n >= o->max_runs)
            break;
        started += st[i] == NL_SWEEP_RUN_STARTED;
        pending[n++] = i;
    }
    if (started)
        fprintf(stderr,
                "normlab: %d run%s started but did not finish: submitted again, from the "
                "start; cancel an earlier job still running them first (squeue, scancel)\n",
                started, started == 1 ? "" : "s");
    return n;
}

/* Write submission k's task list and script into DIR/slurm and submit it, or print the
 * command that would. */
static int submit(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                  const char *dir, const int *pending, int n)
{
    char exe[PATH_MAX], script[PATH_MAX + 64], list[PATH_MAX + 64], sb[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0)
        return nl_app_error(2, "sweep: cannot find this program's path (/proc/self/exe)");
    exe[el] = '\0';
    snprintf(script, sizeof script, "%s/slurm", dir);
    nl_error err = {0};
    if (nl_mkdir_p(script, &err))
        return nl_app_error(2, "%s", err.msg);
    int k = 1;
    do
        snprintf(script, sizeof script, "%s/slurm/sweep-%d.sbatch", dir, k);
    while (access(script, F_OK) == 0 && ++k < 100000);
    snprintf(list, sizeof list, "%s/slurm/tasks-%d.txt", dir, k);
    int code = write_tasks(d, base, dir, pending, n, list);
    if (!code)
        code = write_script(script, exe, dir, base->name[0] ? base->name : "sweep", k, n, list);
    if (code)
        return code;
    fprintf(stderr, "normlab: wrote %s: %d array task%s (runs listed in %s)\n", script, n,
            n == 1 ? "" : "s", list);
    if (!find_sbatch(sb, sizeof sb)) {
        fprintf(stderr, "normlab: sbatch is not on PATH; submit the sweep with:\n");
        printf("sbatch %s%s%s\n", o->sbatch_args ? o->sbatch_args : "", o->sbatch_args ? " " : "",
               script);
        return 0;
    }
    char id[128];
    if ((code = run_sbatch(sb, o->sbatch_args, script, id, sizeof id)))
        return code;
    fprintf(stderr,
            "normlab: submitted job %s; logs in %s/slurm/%s_TASK.log; see the results with: "
            "normlab sweep --collect %s\n",
            id, dir, id, dir);
    printf("%s\n", id);
    return 0;
}

int nl_cmd_sweep_slurm(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                       const char *dir)
{
    nl_error err = {0};
    int code = nl_cmd_sweep_check_runs(d, base, NULL);
    if (code)
        return code;
    if (nl_sweep_dir_prepare(dir, d, base, &err))
        return nl_app_error(2, "%s", err.msg);
    char adir[PATH_MAX];
    if (!realpath(dir, adir))
        return nl_app_error(2, "%s: %s", dir, strerror(errno));
    if (strpbrk(adir, " \t\n'\"%\\$`"))
        return nl_app_error(2,
                            "--slurm: the sweep directory '%s' has a space, quote, %% or $ in "
                            "its path, which the script's #SBATCH lines cannot hold; choose "
                            "another --out",
                            adir);
    nl_sweep_run_status *st = calloc((size_t)nl_sweep_runs(d), sizeof *st);
    int *pending = calloc((size_t)nl_sweep_runs(d), sizeof *pending);
    if (!st || !pending) {
        code = nl_app_error(1, "out of memory");
    } else if (collect_and_report(adir, d, st) < 0) {
        code = 1;
    } else {
        int n = pending_runs(o, d, st, pending);
        if (n > 0) {
            code = submit(o, d, base, adir, pending, n);
        } else {
            fprintf(stderr, "normlab: nothing to submit: every run of the sweep has finished\n");
            code = nl_cmd_sweep_print_table(d, adir);
        }
    }
    free(st);
    free(pending);
    return code;
}
