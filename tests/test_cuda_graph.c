/* Captured steps on the CUDA backend (kernels.h graph_*, engine/step.h).
 *
 * - ops: step_guard's flag equals the CPU's for finite, NaN-loss and overflowing-norm inputs;
 *   adamw_dev gives adamw's bits (aligned and misaligned) and changes nothing when told to
 *   skip; to_host_async into host_alloc memory; a capture of a few ops replayed twice gives
 *   the bits of the ops run directly; a capture whose op must grow the scratch buffer fails
 *   with a reason and leaves last_error() empty; bf16_peak_gflops is a positive figure.
 * - steps: a model trained 8 steps with the step captured as a graph, queued, and plain gives
 *   the same losses, statistics, parameters and moments bit for bit (fp32 with the attention
 *   pieces, fp32 fused, bf16 fused on tensor cores at head size 64), also when two models of
 *   different shapes share the backend and step in turn (a lab race: the second model's first
 *   step grows the shared scratch, so the first model's graph must be captured again).
 *
 * Skips when build/libnormlab_cuda.so (or $NORMLAB_CUDA_LIB) does not load or no device is
 * present. */
#include <dlfcn.h>
#include <stdint.h>

#include "../engine/config.h"
#include "../engine/model.h"
#include "../engine/optim.h"
#include "../engine/step.h"
#include "../kernels/kernels.h"
#include "cuda_load.h"
#include "t.h"

static nl_kernels *GPU, *CPU;

static float *up(const float *h, int64_t n)
{
    float *d = GPU->alloc(GPU, sizeof(float) * (size_t)(n + 1));
    GPU->to_device(GPU, d, h, sizeof(float) * (size_t)n);
    return d;
}

static void guard_case(const float *sumsq, int n, float loss_sum, const char *what)
{
    float *d_ss = up(sumsq, n), *d_loss = up(&loss_sum, 1), *d_flag = up(&loss_sum, 1);
    float flag_gpu = -1, flag_cpu = -1;
    GPU->step_guard(GPU, d_flag, d_loss, 256.0f, d_ss, n);
    GPU->to_host(GPU, &flag_gpu, d_flag, sizeof(float));
    CPU->step_guard(CPU, &flag_cpu, &loss_sum, 256.0f, sumsq, n);
    T_CHECK(flag_gpu == flag_cpu, "step_guard %s: CUDA %g, CPU %g", what, flag_gpu, flag_cpu);
    GPU->free(GPU, d_ss);
    GPU->free(GPU, d_loss);
    GPU->free(GPU, d_flag);
}

static void cuda_graph_guard(void)
{
    float ss[5] = {1.0f, 2.5f, 0.0f, 7.0f, 3.0f}, big[3] = {3e38f, 3e38f, 3e38f};
    guard_case(ss, 5, 12.0f, "finite");
    guard_case(ss, 5, NAN, "NaN loss");
    guard_case(ss, 5, INFINITY, "infinite loss");
    guard_case(big, 3, 12.0f, "norm of 9e38 (finite sum in double, finite norm)");
    float inf[2] = {INFINITY, 1.0f};
    guard_case(inf, 2, 12.0f, "infinite norm");
}

/* adamw_dev against adamw on the same inputs; pad 1 misaligns every pointer. */
static void adamw_case(int64_t n, int pad, float skip)
{
    float *h = malloc(sizeof(float) * (size_t)(4 * n)), *r1 = malloc(sizeof(float) * (size_t)n),
          *r2 = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < 4 * n; i++) /* p, grad, m: about [-0.5, 0.5); v: [0, 1) */
        h[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - (i < 3 * n ? 0.5f : 0.0f);
    float *a = GPU->alloc(GPU, sizeof(float) * (size_t)(8 * n + 8));
    float *b = a + 4 * n + 4; /* second copy */
    GPU->to_device(GPU, a + pad, h, sizeof(float) * (size_t)(4 * n));
    GPU->to_device(GPU, b + pad, h, sizeof(float) * (size_t)(4 * n));
    float hyper[4] = {1e-3f, 0.19f, 0.0975f, skip}, gs = 0.75f;
    float *d_hyper = up(hyper, 4), *d_gs = up(&gs, 1);
    float *pa = a + pad, *pb = b + pad;
    GPU->adamw(GPU, pa, pa + n, pa + 2 * n, pa + 3 * n, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.19f,
               0.0975f, d_gs);
    GPU->adamw_dev(GPU, pb, pb + n, pb + 2 * n, pb + 3 * n, n, 0.9f, 0.95f, 1e-8f, 0.1f, d_hyper,
                   d_gs);
    for (int part = 0; part < 4; part += 2) { /* parameters, then first moments */
        GPU->to_host(GPU, r1, pa + part * n, sizeof(float) * (size_t)n);
        GPU->to_host(GPU, r2, pb + part * n, sizeof(float) * (size_t)n);
        const float *want = skip != 0 ? h + part * n : r1;
        T_CHECK(memcmp(r2, want, sizeof(float) * (size_t)n) == 0,
                "adamw_dev n=%lld pad=%d skip=%g: part %d differs", (long long)n, pad, skip, part);
    }
    GPU->free(GPU, a);
    GPU->free(GPU, d_hyper);
    GPU->free(GPU, d_gs);
    free(h);
    free(r1);
    free(r2);
}

static void cuda_graph_adamw_dev(void)
{
    adamw_case(4099, 0, 0.0f);
    adamw_case(4099, 1, 0.0f);
    adamw_case(1000, 0, 1.0f);
}

/* A few ops captured and replayed twice against the same ops run directly; the figures come
 * back through pinned memory. */
static void cuda_graph_capture(void)
{
    enum { N = 10000 };
    float *h = malloc(sizeof(float) * N), *pinned = GPU->host_alloc(GPU, sizeof(float) * N);
    float *direct = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++)
        h[i] = (float)(i % 97) * 0.01f;
    float *x = up(h, N), *y = up(h, N), *y2 = up(h, N), *ss = up(h, 2);
    int64_t off[2] = {0, N};
    for (int rep = 0; rep < 2; rep++) { /* y = 2x + y twice, then its sum of squares */
        GPU->add_scaled(GPU, y, 2.0f, x, y, N);
        GPU->gelu_forward(GPU, y, y, N);
        GPU->sumsq_segments(GPU, ss, y, off, 1);
    }
    GPU->to_host(GPU, direct, y, sizeof(float) * N);
    T_CHECK(GPU->graph_begin(GPU) == 0, "graph_begin: %s", GPU->last_error(GPU));
    GPU->add_scaled(GPU, y2, 2.0f, x, y2, N);
    GPU->gelu_forward(GPU, y2, y2, N);
    GPU->sumsq_segments(GPU, ss + 1, y2, off, 1);
    char why[256] = "";
    void *g = GPU->graph_end(GPU, why, sizeof why);
    T_CHECK(g != NULL, "capture failed: %s", why);
    for (int rep = 0; g && rep < 2; rep++)
        GPU->graph_launch(GPU, g);
    GPU->to_host_async(GPU, pinned, y2, sizeof(float) * N);
    GPU->sync(GPU);
    T_CHECK(memcmp(pinned, direct, sizeof(float) * N) == 0, "replayed ops differ from direct");
    float sums[2];
    GPU->to_host(GPU, sums, ss, sizeof sums);
    T_CHECK(memcmp(&sums[0], &sums[1], sizeof(float)) == 0, "sum of squares %g / %g", sums[0],
            sums[1]);
    T_CHECK(GPU->last_error(GPU)[0] == 0, "CUDA error: %s", GPU->last_error(GPU));
    GPU->graph_free(GPU, g);
    GPU->host_free(GPU, pinned);
    GPU->free(GPU, x);
    GPU->free(GPU, y);
    GPU->free(GPU, y2);
    GPU->free(GPU, ss);
    free(h);
    free(direct);
}

/* An op that must grow the scratch inside a capture: the capture fails, nothing is left
 * recorded as a backend error, and the backend works on. */
static void cuda_graph_capture_fails(void)
{
    /* 256 MiB of floats, one segment: 8192 chunks of partial sums, more scratch than any
     * case before this one used */
    int64_t n = (int64_t)1 << 26, off[2] = {0, n};
    float *x = GPU->alloc(GPU, sizeof(float) * (size_t)n), *ss = GPU->alloc(GPU, 64);
    if (!x || !ss) {
        t_skip("no room for 256 MiB on the device");
        GPU->free(GPU, x);
        GPU->free(GPU, ss);
        return;
    }
    uint64_t e0 = GPU->graph_epoch(GPU);
    T_CHECK(GPU->graph_begin(GPU) == 0, "graph_begin: %s", GPU->last_error(GPU));
    GPU->sumsq_segments(GPU, ss, x, off, 1);
    char why[256] = "";
    void *g = GPU->graph_end(GPU, why, sizeof why);
    T_CHECK(g == NULL && strstr(why, "captured"), "capture with a growing scratch: %p, '%s'", g,
            why);
    T_CHECK(GPU->last_error(GPU)[0] == 0, "error left behind: %s", GPU->last_error(GPU));
    GPU->sumsq_segments(GPU, ss, x, off, 1); /* grows now, outside a capture */
    GPU->sync(GPU);
    T_CHECK(GPU->graph_epoch(GPU) != e0, "the scratch grew but the epoch stayed");
    T_CHECK(GPU->last_error(GPU)[0] == 0, "CUDA error: %s", GPU->last_error(GPU));
    GPU->graph_free(GPU, g);
    GPU->free(GPU, x);
    GPU->free(GPU, ss);
}

static void cuda_graph_bf16_peak(void)
{
    double g = GPU->bf16_peak_gflops(GPU, 2048);
    printf("# bf16 matmul peak (2048^3): %.0f GFLOP/s\n", g);
    T_CHECK(g > 0 && isfinite(g), "bf16 peak %g", g);
}

/* ---- whole steps: graph, queued and plain, bit for bit ---- */

#define STEPS 8
#define MAX_L 4

typedef struct {
    nl_config c;
    nl_model *m;
    nl_optim *o;
    nl_step *s;
    int recaptures;
} trainer;

static int trainer_open(trainer *t, const char *const *sets, nl_step_way way, nl_error *err)
{
    const char *base[] = {"model.layers=2",   "model.d_model=64", "model.heads=4",
                          "model.seq_len=32", "model.vocab=64",   "data.vocab=64",
                          "train.batch=4",    "train.clip=0.5",   NULL};
    memset(t, 0, sizeof *t);
    nl_config_defaults(&t->c);
    for (int i = 0; base[i]; i++)
        if (nl_config_set_kv(&t->c, base[i], err))
            return -1;
    for (int i = 0; sets && sets[i]; i++)
        if (nl_config_set_kv(&t->c, sets[i], err))
            return -1;
    if (nl_config_validate(&t->c, err) || !(t->m = nl_model_create(&t->c, GPU, err)) ||
        !(t->o = nl_optim_create(t->m, &t->c.train, err)))
        return -1;
    t->s = nl_step_create_way(t->m, t->o, way, err);
    return t->s ? 0 : -1;
}

static void trainer_close(trainer *t)
{
    nl_step_free(t->s);
    nl_optim_free(t->o);
    nl_model_free(t->m);
}

typedef struct {
    nl_step_out out;
    float gn[3 * MAX_L];
} figures;

static int trainer_step(trainer *t, int step, figures *f, nl_error *err)
{
    int B = t->c.train.batch, T = t->c.model.seq_len, V = t->c.model.vocab, L = t->c.model.layers;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(2 * B * T)), *tgt = tok + B * T;
    uint32_t x = 2654435761u * (uint32_t)(step + 1);
    for (int i = 0; i < B * T; i++) {
        x = x * 1664525u + 1013904223u;
        tok[i] = (int32_t)((x >> 8) % (uint32_t)V);
        tgt[i] = (tok[i] * 7 + 3) % V;
    }
    memset(f, 0, sizeof *f);
    float lr = 2e-3f * (1.0f + 0.5f * (float)(step % 3));
    int rc =
        nl_step_run(t->s, tok, tgt, B, lr, f->gn, f->gn + L, f->gn + 2 * L, NULL, &f->out, err);
    if (strstr(nl_step_take_note(t->s), "again"))
        t->recaptures++;
    free(tok);
    return rc;
}

/* Parameters and both moments of two trainers, bit for bit. */
static bool same_state(trainer *a, trainer *b)
{
    int64_t n = nl_model_num_params(a->m);
    size_t bytes = sizeof(float) * (size_t)n;
    float *ha = malloc(3 * bytes), *hb = malloc(3 * bytes);
    GPU->to_host(GPU, ha, nl_model_params(a->m), bytes);
    GPU->to_host(GPU, ha + n, nl_optim_m(a->o), bytes);
    GPU->to_host(GPU, ha + 2 * n, nl_optim_v(a->o), bytes);
    GPU->to_host(GPU, hb, nl_model_params(b->m), bytes);
    GPU->to_host(GPU, hb + n, nl_optim_m(b->o), bytes);
    GPU->to_host(GPU, hb + 2 * n, nl_optim_v(b->o), bytes);
    bool same = memcmp(ha, hb, 3 * bytes) == 0 && nl_optim_t(a->o) == nl_optim_t(b->o);
    free(ha);
    free(hb);
    return same;
}

static void same_figures(const figures *a, const figures *b, const char *what, int step)
{
    T_CHECK(memcmp(&a->out.loss, &b->out.loss, sizeof(float)) == 0 &&
                memcmp(&a->out.grad_norm, &b->out.grad_norm, sizeof(float)) == 0 &&
                memcmp(a->gn, b->gn, sizeof a->gn) == 0 && a->out.bad == b->out.bad,
            "%s, step %d: loss %.9g / %.9g, grad norm %.9g / %.9g", what, step, a->out.loss,
            b->out.loss, a->out.grad_norm, b->out.grad_norm);
}

static void compare_ways(const char *const *sets, const char *what)
{
    trainer g, q, p;
    nl_error err = {0};
    if (trainer_open(&g, sets, NL_STEP_GRAPH, &err) ||
        trainer_open(&q, sets, NL_STEP_QUEUED, &err) ||
        trainer_open(&p, sets, NL_STEP_PLAIN, &err)) {
        T_CHECK(0, "%s: %s", what, err.msg);
        return;
    }
    for (int s = 0; s < STEPS; s++) {
        figures fg, fq, fp;
        if (trainer_step(&g, s, &fg, &err) || trainer_step(&q, s, &fq, &err) ||
            trainer_step(&p, s, &fp, &err)) {
            T_CHECK(0, "%s, step %d: %s", what, s, err.msg);
            break;
        }
        same_figures(&fg, &fp, what, s);
        same_figures(&fq, &fp, what, s);
        T_CHECK(same_state(&g, &p) && same_state(&q, &p), "%s, step %d: parameters differ", what,
                s);
    }
    T_CHECK(nl_step_get_way(g.s) == NL_STEP_GRAPH, "%s: the graph gave up: %s", what,
            nl_step_describe(g.s));
    printf("# %s: %d steps, graph, queued and plain the same bits\n", what, STEPS);
    trainer_close(&g);
    trainer_close(&q);
    trainer_close(&p);
}

static const char *const fp32_pieces[] = {"train.attention=pieces", NULL};
static const char *const fp32_fused[] = {"train.attention=fused", "model.placement=hybrid",
                                         "model.norm=rmsnorm",    "model.ffn=swiglu",
                                         "model.pos=rope",        NULL};
static const char *const bf16_d64[] = {"train.precision=bf16",
                                       "model.d_model=128",
                                       "model.heads=2",
                                       "model.seq_len=80",
                                       "model.placement=sandwich",
                                       "model.tied=true",
                                       NULL};

static void cuda_graph_steps(void)
{
    compare_ways(fp32_pieces, "fp32 pieces");
    compare_ways(fp32_fused, "fp32 fused hybrid");
    compare_ways(bf16_d64, "bf16 D=64 sandwich");
}

/* Two models of other shapes on one backend, stepped in turn as a lab race does, each graph
 * against a plain twin. The second starts two steps late: when its first step grows a buffer
 * of the backend (it needs more scratch), the first model's graph must be captured again. */
static void cuda_graph_race(void)
{
    static const char *const big[] = {"train.precision=bf16", "model.d_model=128", "model.heads=2",
                                      "model.seq_len=80",     "train.batch=16",    NULL};
    trainer g[2], p[2];
    const char *const *sets[2] = {fp32_pieces, big};
    nl_error err = {0};
    for (int i = 0; i < 2; i++)
        if (trainer_open(&g[i], sets[i], NL_STEP_GRAPH, &err) ||
            trainer_open(&p[i], sets[i], NL_STEP_PLAIN, &err)) {
            T_CHECK(0, "race: %s", err.msg);
            return;
        }
    bool grew = false;
    for (int s = 0; s < STEPS + 2; s++)
        for (int i = 0; i < 2; i++) {
            int at = s - 2 * i; /* this run's own step */
            if (at < 0 || at >= STEPS)
                continue;
            figures fg, fp;
            uint64_t e0 = GPU->graph_epoch(GPU);
            int rc = trainer_step(&g[i], at, &fg, &err);
            grew = grew || (i == 1 && at == 0 && GPU->graph_epoch(GPU) != e0);
            if (rc || trainer_step(&p[i], at, &fp, &err)) {
                T_CHECK(0, "race run %d, step %d: %s", i, at, err.msg);
                s = STEPS + 2;
                break;
            }
            same_figures(&fg, &fp, i ? "race bf16" : "race fp32", at);
            T_CHECK(same_state(&g[i], &p[i]), "race run %d, step %d: parameters differ", i, at);
        }
    printf("# race: the second run's first step %s a buffer; the first run's graph captured "
           "again %d times\n",
           grew ? "grew" : "did not grow", g[0].recaptures);
    T_CHECK(!grew || g[0].recaptures >= 1, "a buffer grew but the first graph was not recaptured");
    for (int i = 0; i < 2; i++) {
        trainer_close(&g[i]);
        trainer_close(&p[i]);
    }
}

/* No object or no device: the one line "SKIP cuda_graph: reason", and success. */
static char skip_reason[512];
static void cuda_graph(void)
{
    t_skip(skip_reason);
}

int main(void)
{
    int broken;
    GPU = cuda_load(NULL, skip_reason, sizeof skip_reason, &broken);
    if (!GPU) {
        if (broken) {
            printf("FAIL cuda_graph: %s\n", skip_reason);
            return 1;
        }
        T_RUN(cuda_graph);
        return 0;
    }
    CPU = nl_kernels_cpu_create(1);
    T_RUN(cuda_graph_guard);
    T_RUN(cuda_graph_adamw_dev);
    T_RUN(cuda_graph_capture);
    T_RUN(cuda_graph_capture_fails);
    T_RUN(cuda_graph_bf16_peak);
    T_RUN(cuda_graph_steps);
    T_RUN(cuda_graph_race);
    CPU->destroy(CPU);
    GPU->destroy(GPU);
    T_END();
}
