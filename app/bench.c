/* normlab bench: training throughput, model-FLOP utilisation against the backend's measured
 * matmul peak, and memory (peak resident set against what the buffers need). Figures, not
 * pass/fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../engine/backend.h"
#include "../engine/clock.h"
#include "../engine/driver.h"
#include "../engine/run.h"
#include "../kernels/cpu/peak.h"
#include "commands.h"

static const char *BENCH_USAGE =
    "usage: normlab bench [PRESET...] [--steps N] [--warmup N] [--device D] [--threads N]\n"
    "                     [--race] [--set KEY=VALUE]...\n"
    "\n"
    "For each preset (default: the embedded default), times N training steps (default 20)\n"
    "after warm-up steps (default 3) and prints tokens/s, model FLOPs per token (matmuls,\n"
    "forward and backward), model-FLOP utilisation against the backend's matmul peak measured\n"
    "on this machine (square products through the same backend; on CUDA also against the\n"
    "bf16 tensor-core peak, mfu_bf16), how a step runs (a CUDA graph or plain:\n"
    "train.cuda_graphs), and the peak resident memory next to the bytes that parameters,\n"
    "gradients, AdamW moments and activations need.\n"
    "On the CPU, also mfu_paired: each timed step's rate against the products timed just\n"
    "before and after it (the median over the steps; their time is not counted as step\n"
    "time), which holds still where the machine's speed drifts; and fma_peak_gflops, the\n"
    "cores' multiply-add issue rate (independent chains held in registers, nothing read from\n"
    "memory), the ceiling of any program's float products, with mfu_fma against it.\n"
    "--race: the preset's runs: list (a race) stepped in lockstep on one backend, as the lab\n"
    "steps it; prints the time of a round (one step of every run) and of a step.\n"
    "The CPU backend names its OpenBLAS kernel, its threads and how they wait, which kernel\n"
    "runs the linear layers' products (its own AVX-512 one, or OpenBLAS with\n"
    "NORMLAB_GEMM=blas), and warns when OpenBLAS runs a kernel older than the CPU (forced by\n"
    "OPENBLAS_CORETYPE, or chosen by an OpenBLAS that does not know the CPU).\n"
    "--threads 0 is one per core that other programs leave free (looked at each second), or\n"
    "one for a step under 0.15 GFLOP; more threads than cores are capped to the cores.\n"
    "exit status: 0 figures printed, 1 a run failed or diverged (no figures), 2 bad usage or\n"
    "input.\n";

static double rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* On the CPU backend, each timed step's seconds and the matmul peak sampled right after it,
 * so that a step's rate can be set against the machine's speed of the same moment (on a shared
 * or virtual machine that speed drifts by tens of percent within seconds). The samples' time
 * is not step time. */
typedef struct {
    nl_peak_sampler *ps;
    double mark;    /* when the step under way began: the end of the last sample */
    double steps_s; /* the timed steps' seconds */
    int n, cap;     /* steps recorded, room */
    double *step_s; /* step i's seconds */
    double *peak;   /* peak[0] before the first timed step, peak[i + 1] right after step i */
} paired;

static void paired_step(void *ctx, const nl_driver *d, nl_run_state st)
{
    (void)d, (void)st;
    paired *p = ctx;
    double t = nl_clock_s();
    p->steps_s += t - p->mark;
    if (p->n < p->cap) {
        p->step_s[p->n] = t - p->mark;
        p->peak[p->n + 1] = nl_peak_sample(p->ps);
        p->n++;
    }
    p->mark = nl_clock_s();
}

static void paired_free(paired *p)
{
    nl_peak_sampler_free(p->ps);
    free(p->step_s);
    free(p->peak);
    *p = (paired){0};
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) /* sorts v */
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* What the pairing gives: the median over the timed steps of each step's model FLOP rate
 * against the mean of the peak samples taken just before and just after it (mfu; 0 when no
 * step was paired), and the samples' median and range. */
typedef struct {
    double mfu, md, lo, hi;
    int steps;
} paired_figures;

static paired_figures paired_mfu(const paired *p, double flops_per_step)
{
    paired_figures f = {0};
    int n = 0;
    double *r = p->n > 0 ? malloc(sizeof(double) * (size_t)(p->n + 1)) : NULL;
    if (!r)
        return f;
    for (int i = 0; i < p->n; i++) {
        double g = 0.5 * (p->peak[i] + p->peak[i + 1]);
        if (g > 0 && p->step_s[i] > 0)
            r[n++] = flops_per_step / p->step_s[i] * 1e-9 / g;
    }
    if (n > 0)
        f.mfu = median_of(r, n);
    memcpy(r, p->peak, sizeof(double) * (size_t)(p->n + 1));
    f.md = median_of(r, p->n + 1);
    f.lo = r[0];
    f.hi = r[p->n];
    f.steps = p->n;
    free(r);
    return f;
}

/* The figures of one bench: throughput, FLOPs and utilisation against the measured peaks,
 * how a step runs, memory. pf: the steps paired with peak samples (CPU; mfu 0: none). */
static void print_figures(const nl_config *c, nl_kernels *k, nl_run *r, int th, double tok_s,
                          double step_ms, const paired_figures *pf)
{
    nl_model *m = nl_run_model(r);
    int B = c->train.batch, T = c->model.seq_len;
    const char *what = NULL, *warn = NULL;
    if (k->describe)
        k->describe(k, &what, &warn);
    double fpt = nl_model_flops_per_token(m);
    int peak_n = k->is_host ? 1024 : 8192;
    double peak = nl_matmul_peak_gflops(k, peak_n);
    /* bf16 tensor cores with inputs already in bf16: what "MFU" means for bf16 trainers */
    double peak16 = k->bf16_peak_gflops ? k->bf16_peak_gflops(k, peak_n) : 0;
    int64_t pb, gb, ab;
    nl_model_bytes(m, &pb, &gb, &ab);
    double need = (double)(pb + gb + 2 * pb + ab) / (1024.0 * 1024.0);
    double rss = rss_mb();
    printf("bench %s: %s backend (%s), %d threads, %s, %d layers, d_model %d, %lld params, "
           "batch %d x %d tokens\n",
           c->name, k->name, nl_precision_name(c->train.precision), th,
           nl_placement_name(c->model.placement), c->model.layers, c->model.d_model,
           (long long)nl_model_num_params(m), B, T);
    if (what && *what)
        printf("  backend %s\n", what);
    if (warn && *warn)
        printf("  warning %s\n", warn);
    printf("  tokens/s %.1f\n", tok_s);
    printf("  step_ms %.2f\n", step_ms);
    printf("  model_flops_per_token %.4g\n", fpt);
    printf("  achieved_gflops %.2f\n", fpt * tok_s / 1e9);
    if (k->is_host)
        printf("  matmul_peak_gflops %.2f (measured: best of %d^3 and %d^3 products through the "
               "%s backend)\n",
               peak, peak_n, peak_n - 24, k->name);
    else
        printf("  matmul_peak_gflops %.2f (measured: %d^3 products through the %s backend)\n",
               peak, peak_n, k->name);
    printf("  mfu %.3f\n", peak > 0 ? fpt * tok_s / 1e9 / peak : NAN);
    if (k->is_host) { /* the cores' own ceiling, which no product's kernel can pass */
        const char *isa = "";
        int chains = 0;
        double fma = nl_cpu_fma_peak_gflops(th, &isa, &chains);
        printf("  fma_peak_gflops %.2f (measured: %d thread%s, each running %d independent %s "
               "multiply-add chains held in registers: the most float multiply-adds these "
               "cores issue)\n",
               fma, th, th == 1 ? "" : "s", chains, isa);
        printf("  mfu_fma %.3f\n", fma > 0 ? fpt * tok_s / 1e9 / fma : NAN);
    }
    if (pf->mfu > 0)
        printf("  mfu_paired %.3f (median over the %d timed steps of each step's rate against "
               "the products timed just before and after it, which read %.1f GFLOP/s "
               "(%.1f-%.1f))\n",
               pf->mfu, pf->steps, pf->md, pf->lo, pf->hi);
    if (peak16 > 0) {
        printf("  bf16_matmul_peak_gflops %.2f (measured: %d^3 bf16 products, fp32 "
               "accumulation)\n",
               peak16, peak_n);
        printf("  mfu_bf16 %.3f\n", fpt * tok_s / 1e9 / peak16);
    }
    printf("  step %s\n", nl_run_step_way(r));
    printf("  attention %s\n", nl_model_attention_way(m));
    printf("  memory_needed_mb %.1f (params %.1f, grads %.1f, adamw %.1f, activations %.1f)\n",
           need, pb / 1048576.0, gb / 1048576.0, 2 * pb / 1048576.0, ab / 1048576.0);
    if (k->is_host)
        printf("  peak_rss_mb %.1f (%.2fx of needed)\n", rss, rss / need);
    else
        printf("  peak_rss_mb %.1f (host; buffers live on the device)\n", rss);
}

/* The preset with the command's settings, for `total` steps, timed as they are: no
 * validation, no divergence stop. Nonzero (the message printed) when it cannot be had. */
static int bench_config(nl_config *c, const char *preset, const char **sets, int n_sets,
                        const char *device, long threads, long total)
{
    if (nl_app_load_preset(preset, c) ||
        nl_app_configure(c, sets, n_sets, total, threads, device))
        return 2;
    nl_config_set(c, "train.eval_every", "0", NULL);
    nl_config_set(c, "train.diverge_patience", "0", NULL);
    return 0;
}

static int bench_one(const char *preset, const char **sets, int n_sets, const char *device,
                     long threads, long steps, long warmup)
{
    nl_config c;
    nl_error err = {0};
    if (bench_config(&c, preset, sets, n_sets, device, threads, steps + warmup + 1))
        return 2;
    char notice[512];
    nl_kernels *k = nl_backend_open(nl_device_name(c.train.device), c.train.threads, notice,
                                    sizeof notice, &err);
    if (!k)
        return nl_app_error(2, "%s", err.msg);
    if (notice[0])
        fprintf(stderr, "normlab: %s\n", notice);
    nl_run_opts o = {.kernels = k, .metrics_capacity = -1};
    nl_run *r = nl_run_create(&c, &o, &err);
    if (!r) {
        nl_backend_close(k);
        return nl_app_error(nl_app_exit_code(err.code), "%s", err.msg);
    }
    int B = c.train.batch, T = c.model.seq_len;
    int th = nl_backend_threads(c.train.threads, NULL, 0);
    fprintf(stderr, "normlab: bench %s: warming up...\n", c.name);
    nl_driver d;
    nl_driver_init(&d, r);
    nl_drive_opts warm = {.max_steps = warmup}, timed = {.max_steps = steps};
    nl_run_state st = warmup > 0 ? nl_driver_run(&d, &warm, &err) : NL_RUN_RUNNING;
    /* the CPU's steps each paired with a peak sample (a device's products are queued, and its
     * peak sample would take longer than a step) */
    paired pr = {.cap = (int)steps};
    if (k->is_host && (pr.ps = nl_peak_sampler_create(k, 1024))) {
        pr.step_s = malloc(sizeof(double) * (size_t)steps);
        pr.peak = malloc(sizeof(double) * (size_t)(steps + 1));
        if (pr.step_s && pr.peak) {
            nl_peak_sample(pr.ps); /* warm-up */
            pr.peak[0] = nl_peak_sample(pr.ps);
            timed.progress = paired_step;
            timed.ctx = &pr;
        }
    }
    k->sync(k);
    double t0 = nl_clock_s();
    pr.mark = t0;
    int64_t s0 = nl_run_step_index(r);
    if (st == NL_RUN_RUNNING)
        st = nl_driver_run(&d, &timed, &err);
    k->sync(k);
    double dt = timed.progress ? pr.steps_s : nl_clock_s() - t0;
    /* a failed or diverged run stops stepping: figures over steps not taken would be made up */
    if (st == NL_RUN_FAILED || st == NL_RUN_DIVERGED) {
        int64_t at = nl_run_step_index(r);
        paired_free(&pr);
        nl_run_free(r);
        nl_backend_close(k);
        if (st == NL_RUN_FAILED)
            return nl_app_error(1, "bench %s: %s", c.name, err.msg);
        return nl_app_error(1, "bench %s: the run diverged at step %lld (%s); no figures", c.name,
                            (long long)at, at <= warmup ? "during warm-up" : "timed");
    }
    steps = (long)(nl_run_step_index(r) - s0);
    if (c.train.threads == 0 && d.auto_threads > 0)
        th = d.auto_threads; /* what auto ran at the end (a small step, or a busy machine) */
    /* the sampler's buffers go before the figures' own peak measurement allocates its */
    paired_figures pf = {0};
    if (timed.progress)
        pf = paired_mfu(&pr, nl_model_flops_per_token(nl_run_model(r)) * B * T);
    paired_free(&pr);
    print_figures(&c, k, r, th, (double)steps * B * T / dt, 1000.0 * dt / (double)steps, &pf);
    fflush(stdout);
    nl_run_free(r);
    nl_backend_close(k);
    return 0;
}

/* The runs of a race preset on one shared backend, stepped in lockstep as the lab's session
 * steps them (one step of every run a round, on identical batches): per-round and per-run step
 * times, and which way each run's steps go (a CUDA graph or plain). */
static int race_open(const nl_config *c, nl_kernels *k, nl_run **r, nl_driver *d, nl_error *err)
{
    for (int i = 0; i < c->n_runs; i++) {
        nl_config ci;
        if (nl_config_race_entry(c, i, &ci, err))
            return nl_app_exit_code(err->code);
        nl_run_opts o = {.kernels = k, .metrics_capacity = -1};
        if (!(r[i] = nl_run_create(&ci, &o, err)))
            return nl_app_exit_code(err->code);
        nl_driver_init(&d[i], r[i]);
    }
    return 0;
}

/* rounds of every run's step; 0, or the failing run's index + 1 */
static int race_rounds(int n, nl_driver *d, long rounds, nl_error *err)
{
    for (long s = 0; s < rounds; s++)
        for (int i = 0; i < n; i++) {
            nl_run_state st = nl_driver_step(&d[i], err);
            if (st == NL_RUN_FAILED || st == NL_RUN_DIVERGED)
                return i + 1;
        }
    return 0;
}

static int bench_race(const char *preset, const char **sets, int n_sets, const char *device,
                      long threads, long steps, long warmup)
{
    nl_config c;
    nl_error err = {0};
    if (bench_config(&c, preset, sets, n_sets, device, threads, steps + warmup + 1))
        return 2;
    if (c.n_runs < 1)
        return nl_app_error(2, "bench --race: %s has no runs: list (a race preset)", c.name);
    nl_kernels *k = nl_backend_open(nl_device_name(c.train.device), c.train.threads, NULL, 0, &err);
    if (!k)
        return nl_app_error(2, "%s", err.msg);
    nl_run *r[NL_MAX_RACE] = {0};
    nl_driver d[NL_MAX_RACE];
    int n = c.n_runs, code = race_open(&c, k, r, d, &err), bad = 0;
    if (!code && !(bad = race_rounds(n, d, warmup, &err))) {
        k->sync(k);
        double t0 = nl_clock_s();
        bad = race_rounds(n, d, steps, &err);
        k->sync(k);
        double dt = nl_clock_s() - t0;
        if (!bad) {
            int64_t tok = (int64_t)c.train.batch * c.model.seq_len * n * steps;
            printf("bench race %s: %d runs in lockstep on one %s backend (%s), batch %d x %d\n",
                   c.name, n, k->name, nl_precision_name(c.train.precision), c.train.batch,
                   c.model.seq_len);
            printf("  round_ms %.3f (one step of every run)\n", 1000.0 * dt / (double)steps);
            printf("  step_ms %.3f (per run)\n", 1000.0 * dt / (double)steps / n);
            printf("  tokens/s %.1f (all runs)\n", (double)tok / dt);
            for (int i = 0; i < n; i++)
                printf("  run %s: step %s\n", c.runs[i].name, nl_run_step_way(r[i]));
        }
    }
    if (bad)
        code = nl_app_error(1, "bench --race %s: run %s: %s", c.name, c.runs[bad - 1].name,
                            err.msg[0] ? err.msg : "diverged");
    else if (code)
        nl_app_error(code, "%s", err.msg);
    for (int i = 0; i < n; i++)
        nl_run_free(r[i]);
    nl_backend_close(k);
    return code;
}

int nl_cmd_bench(int argc, char **argv)
{
    const char *device = NULL;
    long steps = 20, warmup = 3, threads = -1;
    bool race = false;
    const char **presets = calloc((size_t)argc + 1, sizeof(char *));
    const char **sets = calloc((size_t)argc + 1, sizeof(char *)), *kv;
    int np = 0, ns = 0, code = 0;
    if (!presets || !sets)
        code = nl_app_error(1, "out of memory");
    for (int i = 1; i < argc && !code; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(BENCH_USAGE, stdout);
            goto out;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            code = nl_app_int("--steps", argv[++i], 1, 100000, &steps);
        } else if (!strcmp(a, "--warmup") && i + 1 < argc) {
            code = nl_app_int("--warmup", argv[++i], 0, 100000, &warmup);
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            code = nl_app_int("--threads", argv[++i], 0, 1024, &threads);
        } else if (!strcmp(a, "--race")) {
            race = true;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if ((kv = nl_app_set_arg(argc, argv, &i))) {
            sets[ns++] = kv;
        } else if (a[0] == '-') {
            code = nl_app_error(2, "bench: unknown or incomplete option '%s'", a);
        } else {
            presets[np++] = argv[i];
        }
    }
    if (!code) {
        int (*one)(const char *, const char **, int, const char *, long, long, long) =
            race ? bench_race : bench_one;
        if (np == 0)
            code = one(NULL, sets, ns, device, threads, steps, warmup);
        for (int i = 0; i < np; i++) {
            int c = one(presets[i], sets, ns, device, threads, steps, warmup);
            if (c > code)
                code = c;
        }
    }
out:
    free(presets);
    free(sets);
    return code;
}
