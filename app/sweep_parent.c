/* normlab sweep, the parent: schedules the runs as child processes, shows their progress, and
 * prints the summary table (sweep_internal.h). */
#include "sweep_internal.h"

/* ---- the parent: scheduling children, progress, the table ---- */

typedef struct child {
    pid_t pid;
    int fd, run;
    char buf[2048];
    int len;
    int64_t step, total;
    bool have_result;
    nl_sweep_result res;
} child;

typedef struct sweep_state {
    const nl_sweep_def *d;
    const char *dir;
    bool tty;
    int total_runs, done; /* rows in sweep.csv */
    int finished_here, failed, stopped, diverged_here;
    double *weight; /* per run: steps x (layers + 1), for the ETA */
    double weight_left, weight_done;
    double t0, last_draw;
    char live[512];
} sweep_state;

static pid_t launch(const char *exe, int argc, char **argv, int run, int *fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    char idx[16];
    snprintf(idx, sizeof idx, "%d", run);
    char **av = calloc((size_t)argc + 4, sizeof *av);
    if (!av) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    av[0] = (char *)exe;
    av[1] = "sweep";
    for (int i = 1; i < argc; i++)
        av[i + 1] = argv[i];
    av[argc + 1] = "--child";
    av[argc + 2] = idx;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(exe, av);
        dprintf(2, "normlab: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    free(av);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    *fd = p[0];
    return pid;
}

static void clear_live(sweep_state *s)
{
    if (s->tty && s->live[0]) {
        fputs("\r\033[K", stderr);
        s->live[0] = '\0';
    }
}

static void draw_live(sweep_state *s, const child *ch, int running)
{
    double now = nl_clock_s();
    if (!s->tty || now - s->last_draw < 0.2)
        return;
    s->last_draw = now;
    struct winsize ws;
    int cols = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
    double done_w = s->weight_done;
    for (int i = 0; i < running; i++)
        if (ch[i].total > 0)
            done_w += s->weight[ch[i].run] * (double)ch[i].step / (double)ch[i].total;
    double el = now - s->t0, f = s->weight_left > 0 ? done_w / s->weight_left : 1;
    char eta[32];
    nl_fmt_eta(f > 0.01 ? el * (1 - f) / f : NAN, eta, sizeof eta);
    char line[1024];
    int n = snprintf(line, sizeof line, "sweep %d/%d done, ETA %s", s->done, s->total_runs, eta);
    for (int i = 0; i < running && n < (int)sizeof line; i++) {
        char name[512];
        nl_sweep_run_name(s->d, ch[i].run % nl_sweep_cells(s->d), ch[i].run / nl_sweep_cells(s->d),
                          name, sizeof name);
        n += snprintf(line + n, sizeof line - (size_t)n, " | %s %lld/%lld", name,
                      (long long)ch[i].step, (long long)ch[i].total);
    }
    if (n >= cols)
        line[cols - 1] = '\0';
    snprintf(s->live, sizeof s->live, "%s", line);
    fprintf(stderr, "\r\033[K%s", s->live);
    fflush(stderr);
}

/* A line of a child's own output (its errors), shown under the run's name. */
static void child_output(sweep_state *s, const child *c, const char *line)
{
    char name[512];
    nl_sweep_run_name(s->d, c->run % nl_sweep_cells(s->d), c->run / nl_sweep_cells(s->d), name,
                      sizeof name);
    clear_live(s);
    fprintf(stderr, "normlab: [%s] %s\n", name, line);
}

/* Handle one line from a child. */
static void child_line(sweep_state *s, child *c, const char *line)
{
    long long a, b;
    if (line[0] == 'P' && sscanf(line, "P %lld %lld", &a, &b) == 2) {
        c->step = a;
        c->total = b;
    } else if (!strncmp(line, "R ", 2)) {
        nl_error err = {0};
        if (nl_sweep_result_parse(s->d, line + 2, "sweep run result", &c->res, &err) == 0)
            c->have_result = true;
        else
            child_output(s, c, err.msg);
    } else if (line[0]) {
        child_output(s, c, line);
    }
}

/* Read what a child wrote; returns 1 at end of file. */
static int child_read(sweep_state *s, child *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - (size_t)c->len);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    if (n == 0 && c->len > 0) {
        c->buf[c->len] = '\0';
        child_line(s, c, c->buf);
        c->len = 0;
    }
    if (n == 0)
        return 1;
    c->len += (int)n;
    c->buf[c->len] = '\0';
    char *p = c->buf, *nl;
    while ((nl = strchr(p, '\n'))) {
        *nl = '\0';
        child_line(s, c, p);
        p = nl + 1;
    }
    c->len = (int)strlen(p);
    memmove(c->buf, p, (size_t)c->len + 1);
    if (c->len == (int)sizeof c->buf - 1) { /* an overlong line: show it and go on */
        child_line(s, c, c->buf);
        c->len = 0;
    }
    return 0;
}

/* A child has exited: record its row, or count it as stopped or failed. */
static void child_done(sweep_state *s, child *c, int status)
{
    char name[512];
    int cells = nl_sweep_cells(s->d);
    nl_sweep_run_name(s->d, c->run % cells, c->run / cells, name, sizeof name);
    bool exited0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    clear_live(s);
    if (exited0 && c->have_result) {
        char csv[PATH_MAX + 32];
        snprintf(csv, sizeof csv, "%s/sweep.csv", s->dir);
        nl_error err = {0};
        if (nl_sweep_csv_append(csv, s->d, &c->res, &err)) {
            nl_app_error(1, "%s", err.msg);
            s->failed++;
            return;
        }
        s->done++;
        s->finished_here++;
        s->weight_done += s->weight[c->run];
        const nl_sweep_result *r = &c->res;
        if (r->diverged) {
            s->diverged_here++;
            fprintf(stderr, "normlab: sweep %d/%d %s: diverged at step %lld (loss %.4f)\n", s->done,
                    s->total_runs, name, (long long)r->diverged_step, (double)r->train_loss);
        } else {
            fprintf(stderr,
                    "normlab: sweep %d/%d %s: val %.4f, train %.4f (best %.4f), %.0f tok/s\n",
                    s->done, s->total_runs, name, (double)r->val_loss, (double)r->train_loss,
                    (double)r->best_loss, (double)r->tok_s);
        }
    } else if (nl_cmd_sweep_stop &&
               ((WIFEXITED(status) && WEXITSTATUS(status) == 130) || WIFSIGNALED(status))) {
        s->stopped++;
    } else {
        s->failed++;
        if (WIFSIGNALED(status))
            nl_app_error(1, "sweep run %s was killed by signal %d", name, WTERMSIG(status));
        else
            nl_app_error(1, "sweep run %s failed (exit status %d)", name,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    fflush(stderr);
}

int nl_cmd_sweep_print_table(const nl_sweep_def *d, const char *dir)
{
    char csv[PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    nl_sweep_result *rows = NULL;
    int n = 0;
    nl_error err = {0};
    if (nl_sweep_csv_read(csv, d, &rows, &n, &err))
        return nl_app_error(1, "%s", err.msg);
    if (n == 0) {
        free(rows);
        return 0;
    }
    nl_sweep_cell_stats *st = calloc((size_t)nl_sweep_cells(d), sizeof *st);
    if (!st) {
        free(rows);
        return nl_app_error(1, "out of memory");
    }
    nl_sweep_summarise(d, rows, n, st);
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    bool utf8 = cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
    char *table = nl_sweep_table(d, st, utf8);
    if (table)
        fputs(table, stdout);
    fflush(stdout);
    free(table);
    free(st);
    free(rows);
    return 0;
}

int nl_cmd_sweep_check_runs(const nl_sweep_def *d, const nl_config *base, double *weight)
{
    int cells = nl_sweep_cells(d);
    for (int i = 0; i < nl_sweep_runs(d); i++) {
        nl_config c;
        nl_error err = {0};
        if (nl_sweep_run_config(d, base, i % cells, i / cells, &c, &err))
            return nl_app_error(2, "%s", err.msg);
        if (weight)
            weight[i] = (double)c.train.steps * (c.model.layers + 1);
    }
    return 0;
}

/* The parent's state besides the children: what is left to run. */
typedef struct sweep_plan {
    bool *done;
    int *pending, n_pending;
    child *ch;
    struct pollfd *pf;
    char exe[PATH_MAX];
} sweep_plan;

/* Check every run's config, prepare DIR, find the runs left and this program's path, and say
 * what is about to happen. Returns an exit code (0: go on). */
static int plan_runs(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                     sweep_state *s, sweep_plan *p)
{
    int runs = s->total_runs;
    nl_error err = {0};
    int code = nl_cmd_sweep_check_runs(d, base, s->weight);
    if (code)
        return code;
    if (nl_sweep_dir_prepare(s->dir, d, base, &err) || nl_sweep_dir_done(s->dir, d, p->done, &err))
        return nl_app_error(2, "%s", err.msg);
    for (int i = 0; i < runs; i++) {
        if (p->done[i])
            s->done++;
        else {
            p->pending[p->n_pending++] = i;
            s->weight_left += s->weight[i];
        }
    }
    ssize_t el = readlink("/proc/self/exe", p->exe, sizeof p->exe - 1);
    if (el <= 0)
        return nl_app_error(2, "sweep: cannot find this program's path (/proc/self/exe)");
    p->exe[el] = '\0';
    if (o->jobs > o->at_once)
        fprintf(stderr, "normlab: --jobs %ld: this process may use %d core%s; %d runs at a time\n",
                o->jobs, o->at_once, o->at_once == 1 ? "" : "s", o->at_once);
    fprintf(stderr,
            "normlab: sweep %s: %d cells x %d seeds = %d runs, %d already done; "
            "%d at a time, threads per run: %d -> %s\n",
            base->name, nl_sweep_cells(d), d->seeds, runs, s->done, o->at_once, o->threads, s->dir);
    fflush(stderr);
    return 0;
}

/* Run the pending runs, o->at_once at a time, until done or stopped. Returns how many were
 * launched. */
static int run_children(int argc, char **argv, const sweep_opts *o, sweep_state *s, sweep_plan *p)
{
    child *ch = p->ch;
    int next = 0, running = 0, launched = 0;
    bool forwarded = false;
    s->t0 = nl_clock_s();
    while (1) {
        while (!nl_cmd_sweep_stop && running < o->at_once && next < p->n_pending &&
               (o->max_runs <= 0 || launched < o->max_runs)) {
            child *c = &ch[running];
            memset(c, 0, sizeof *c);
            c->run = p->pending[next++];
            c->pid = launch(p->exe, argc, argv, c->run, &c->fd);
            if (c->pid < 0) {
                clear_live(s);
                nl_app_error(1, "sweep: cannot start a run: %s", strerror(errno));
                s->failed++;
                continue;
            }
            launched++;
            running++;
        }
        if (running == 0)
            break;
        if (nl_cmd_sweep_stop && !forwarded) {
            for (int i = 0; i < running; i++)
                kill(ch[i].pid, SIGINT);
            forwarded = true;
        }
        nfds_t nfd = 0;
        for (int i = 0; i < running; i++)
            p->pf[nfd++] = (struct pollfd){.fd = ch[i].fd, .events = POLLIN};
        int pr = poll(p->pf, nfd, 200);
        for (int i = running - 1; pr > 0 && i >= 0; i--) {
            if (!(p->pf[i].revents & (POLLIN | POLLHUP | POLLERR)) || !child_read(s, &ch[i]))
                continue;
            close(ch[i].fd);
            int status = 0;
            while (waitpid(ch[i].pid, &status, 0) < 0 && errno == EINTR)
                ;
            child_done(s, &ch[i], status);
            ch[i] = ch[running - 1];
            running--;
        }
        draw_live(s, ch, running);
    }
    clear_live(s);
    return launched;
}

/* The last word: interrupted, stopped by --max-runs, or done. */
static void final_message(const sweep_state *s, int launched)
{
    int runs = s->total_runs, left = runs - s->done;
    if (nl_cmd_sweep_stop)
        fprintf(stderr,
                "normlab: interrupted: %d of %d runs are in %s/sweep.csv; run the same command "
                "again to continue\n",
                s->done, runs, s->dir);
    else if (left > 0 && s->failed == 0)
        fprintf(stderr,
                "normlab: stopped after %d runs (--max-runs); %d of %d runs left; run the "
                "same command again to continue\n",
                launched, left, runs);
    else
        fprintf(stderr,
                "normlab: sweep %s: %d of %d runs done (%d trained now, %d diverged), "
                "%d failed\n",
                s->dir, s->done, runs, s->finished_here, s->diverged_here, s->failed);
}

int nl_cmd_sweep_run_parent(int argc, char **argv, const sweep_opts *o, const nl_sweep_def *d,
                            const nl_config *base, const char *dir)
{
    int runs = nl_sweep_runs(d);
    sweep_state s = {.d = d, .dir = dir, .tty = isatty(2), .total_runs = runs};
    sweep_plan *p = calloc(1, sizeof *p);
    s.weight = calloc((size_t)runs, sizeof(double));
    int code = 0;
    if (p) {
        p->done = calloc((size_t)runs, sizeof(bool));
        p->pending = calloc((size_t)runs, sizeof(int));
        p->ch = calloc((size_t)o->jobs, sizeof *p->ch);
        p->pf = calloc((size_t)o->jobs, sizeof *p->pf);
    }
    if (!p || !s.weight || !p->done || !p->pending || !p->ch || !p->pf) {
        code = nl_app_error(2, "out of memory");
        goto out;
    }
    if ((code = plan_runs(o, d, base, &s, p)))
        goto out;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = nl_cmd_sweep_on_signal; /* no SA_RESTART: poll() returns on a signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int launched = run_children(argc, argv, o, &s, p);
    final_message(&s, launched);
    int tc = nl_cmd_sweep_print_table(d, dir);
    code = nl_cmd_sweep_stop ? 130 : (s.failed || tc) ? 1 : 0;
out:
    if (p) {
        free(p->done);
        free(p->pending);
        free(p->ch);
        free(p->pf);
    }
    free(p);
    free(s.weight);
    return code;
}
