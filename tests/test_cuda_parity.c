/* The whole model on CUDA against the CPU engine: for every named placement, dense and MoE,
 * the same parameters on both backends must give the same loss (1e-4 relative; with MoE the
 * aux and z losses too), the same gradient for every tensor (1e-3 relative to the largest of
 * the element, the tensor's rms and 1e-3 of the rms of all gradients), and the same losses
 * over the first 10 AdamW steps (1e-4). Host buffers that receive results are NaN-filled
 * first, and so are both models' gradient buffers before backward (which must zero them).
 * With tf32 and bf16 matmuls the figures are printed, not checked (with MoE, rounding can
 * flip a token's expert choice, and then that expert's gradient differs outright).
 * The engine uses the backend's fused attention under tf32 and bf16. The fp32 checks above run
 * with it forced on (train.attention = fused: the CUDA backend's fp32 SIMT way, head size 16);
 * two placements again at head size 64 and seq_len 80 check fp32 with the pieces (the default)
 * and put the fused op on tensor cores under tf32 and bf16.
 *
 * Every config also trains its 10 steps a third way, on CUDA with the step captured as a
 * graph (train.cuda_graphs auto: dense models; MoE steps stay plain), and those losses and
 * final parameters must be CUDA plain's bit for bit, in every precision.
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
static nl_attention_mode g_attention = NL_ATTN_AUTO; /* the GPU model's train.attention */

#define B 4
#define T_MAX 80 /* seq_len is 32, or 80 in the head-size-64 configs */
#define VOCAB 64
#define STEPS 10

static const char *placements[] = {"post",   "pre",         "sandwich", "preqk",
                                   "hybrid", "hybrid_star", "mixln",    "deepnorm"};
#define N_PLACEMENTS (int)(sizeof placements / sizeof placements[0])

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void nan_fill(float *h, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        h[i] = NAN;
}

/* Configs cover both norms, both FFN kinds, both position kinds, tied heads, and MoE with and
 * without renormalised gates. */
static int make_config(nl_config *c, int p, int moe, nl_error *err)
{
    char kv[8][96];
    int n = 0;
    nl_config_defaults(c);
    snprintf(kv[n++], 96, "model.placement=%s", placements[p]);
    snprintf(kv[n++], 96, "model.norm=%s", (p / 2) % 2 ? "rmsnorm" : "layernorm");
    snprintf(kv[n++], 96, "model.ffn=%s", p % 2 ? "swiglu" : "gelu");
    snprintf(kv[n++], 96, "model.pos=%s", p % 2 ? "rope" : "learned");
    snprintf(kv[n++], 96, "model.tied=%s", p == 2 ? "true" : "false");
    snprintf(kv[n++], 96, "model.moe.experts=%d", moe ? 4 : 0);
    snprintf(kv[n++], 96, "model.moe.renorm=%s", p % 2 ? "false" : "true");
    snprintf(kv[n++], 96, "train.clip=%s", "1.0");
    const char *fixed[] = {"model.layers=4",          "model.d_model=64",      "model.heads=4",
                           "model.seq_len=32",        "model.vocab=64",        "data.vocab=64",
                           "train.batch=4",           "train.lr=3e-3",         "model.moe.top_k=2",
                           "model.moe.aux_loss=0.01", "model.moe.z_loss=0.001"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (nl_config_set_kv(c, fixed[i], err))
            return -1;
    for (int i = 0; i < n; i++)
        if (nl_config_set_kv(c, kv[i], err))
            return -1;
    return nl_config_validate(c, err);
}

/* Head size 64 (d_model 128, 2 heads) and seq_len 80, two query tiles of 64 with a partial
 * one: the fused attention's tensor-core way under bf16 and tf32. */
static int make_config_d64(nl_config *c, int p, int moe, nl_error *err)
{
    if (make_config(c, p, moe, err))
        return -1;
    const char *kv[] = {"model.d_model=128", "model.heads=2", "model.seq_len=80"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (nl_config_set_kv(c, kv[i], err))
            return -1;
    return nl_config_validate(c, err);
}

/* max over elements of |a - b| / max(|b|, rms(b), floor); NaN gives INFINITY. The floor (a
 * small fraction of the rms of all gradients) keeps a gradient that is zero in exact
 * arithmetic, such as the key-norm bias's (softmax ignores a shift shared by every key), from
 * being judged on its rounding noise. */
static double rel_err(const float *a, const float *b, int64_t n, double floor)
{
    double ss = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)b[i] * b[i];
    double rms = n ? sqrt(ss / (double)n) : 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            return INFINITY;
        double s = fmax(fmax(fabs((double)b[i]), rms), floor);
        double e = s > 0 ? fabs((double)a[i] - b[i]) / s : fabs((double)a[i]);
        if (e > worst)
            worst = e;
    }
    return worst;
}

static double scalar_err(double a, double b)
{
    if (isnan(a) || isnan(b))
        return INFINITY;
    return fabs(a - b) / fmax(fabs(b), 1e-6);
}

static void poison_grads(nl_model *m, int64_t np)
{
    nl_kernels *k = nl_model_kernels(m);
    float *h = malloc(sizeof(float) * (size_t)np);
    nan_fill(h, np);
    k->to_device(k, nl_model_grads(m), h, sizeof(float) * (size_t)np);
    free(h);
}

/* The two models' gradients after one forward and backward on random tokens: *loss_err,
 * *grad_err and the worst tensor's name. */
static int check_grads(nl_model *mc, nl_model *mg, const nl_config *c, double *loss_err,
                       double *grad_err, char *worst_tensor, nl_error *err)
{
    int32_t tok[B * T_MAX], tgt[B * T_MAX];
    const int T = c->model.seq_len;
    int64_t np = nl_model_num_params(mc);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)(rng_u32() % VOCAB);
        tgt[i] = (int32_t)(rng_u32() % VOCAB);
    }
    float lc = NAN, lg = NAN, ac = 0, ag = 0, zc = 0, zg = 0;
    if (nl_model_forward(mc, tok, tgt, B, &lc, &ac, &zc, err) ||
        nl_model_forward(mg, tok, tgt, B, &lg, &ag, &zg, err))
        return -1;
    *loss_err = scalar_err(lg, lc);
    if (c->model.moe_experts > 0) /* dense models report NaN for these */
        *loss_err = fmax(*loss_err, fmax(scalar_err(ag, ac), scalar_err(zg, zc)));
    poison_grads(mc, np);
    poison_grads(mg, np);
    if (nl_model_backward(mc, err) || nl_model_backward(mg, err))
        return -1;
    float *gc = malloc(sizeof(float) * (size_t)np), *gg = malloc(sizeof(float) * (size_t)np);
    nan_fill(gc, np);
    nan_fill(gg, np);
    nl_model_get_grads(mc, gc);
    nl_model_get_grads(mg, gg);
    double all = 0;
    for (int64_t i = 0; i < np; i++)
        all += (double)gc[i] * gc[i];
    double floor = 1e-3 * sqrt(all / (double)np);
    *grad_err = 0;
    for (int i = 0; i < nl_model_num_tensors(mc); i++) {
        const nl_tensor *t = nl_model_tensor(mc, i);
        double e = rel_err(gg + t->offset, gc + t->offset, t->numel, floor);
        if (e > *grad_err || isinf(e)) {
            *grad_err = e;
            snprintf(worst_tensor, 96, "%s", t->name);
        }
    }
    free(gc);
    free(gg);
    return 0;
}

/* STEPS AdamW steps three ways: CPU plain, CUDA plain (train.cuda_graphs off) and CUDA with
 * the step captured as a graph (auto: dense models; MoE steps plain). *train_err: the worst
 * relative loss error of CUDA plain against the CPU. The graphed run must give CUDA plain's
 * losses and final parameters bit for bit (*graph_same). */
static int train_three(nl_model *mc, nl_model *mg, nl_model *mh, const nl_config *c,
                       double *train_err, bool *graph_same, nl_error *err)
{
    int32_t tok[B * T_MAX], tgt[B * T_MAX];
    const int T = c->model.seq_len;
    nl_model *ms[3] = {mc, mg, mh};
    nl_optim *o[3] = {NULL, NULL, NULL};
    nl_step *st[3] = {NULL, NULL, NULL};
    nl_cuda_graphs mode[3] = {NL_GRAPHS_OFF, NL_GRAPHS_OFF, NL_GRAPHS_AUTO};
    int rc = -1;
    for (int i = 0; i < 3; i++)
        if (!(o[i] = nl_optim_create(ms[i], &c->train, err)) ||
            !(st[i] = nl_step_create(ms[i], o[i], mode[i], err)))
            goto out;
    *train_err = 0;
    *graph_same = true;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < B * T; i++) {
            tok[i] = (int32_t)(rng_u32() % VOCAB);
            tgt[i] = (tok[i] * 7 + 3) % VOCAB; /* learnable, so the loss moves */
        }
        nl_step_out out[3];
        for (int i = 0; i < 3; i++)
            if (nl_step_run(st[i], tok, tgt, B, c->train.lr, NULL, NULL, NULL, NULL, &out[i], err))
                goto out;
        double e = scalar_err(out[1].loss, out[0].loss);
        if (e > *train_err)
            *train_err = e;
        *graph_same = *graph_same && memcmp(&out[1].loss, &out[2].loss, sizeof(float)) == 0;
    }
    int64_t np = nl_model_num_params(mg);
    float *pg = malloc(sizeof(float) * (size_t)np), *ph = malloc(sizeof(float) * (size_t)np);
    nl_model_get_params(mg, pg);
    nl_model_get_params(mh, ph);
    *graph_same = *graph_same && memcmp(pg, ph, sizeof(float) * (size_t)np) == 0;
    free(pg);
    free(ph);
    rc = 0;
out:
    for (int i = 0; i < 3; i++) {
        nl_step_free(st[i]);
        nl_optim_free(o[i]);
    }
    return rc;
}

/* One config: returns the figures through *loss_err, *grad_err, *train_err (worst tensor,
 * worst step) and whether the graphed steps gave the plain ones' bits; nonzero on an engine
 * error (message in err). */
static int compare_config(const nl_config *c, nl_precision prec, double *loss_err, double *grad_err,
                          char *worst_tensor, double *train_err, bool *graph_same, nl_error *err)
{
    int rc = -1;
    nl_model *mc = NULL, *mg = NULL, *mh = NULL;
    *loss_err = *grad_err = *train_err = INFINITY;
    *graph_same = false;
    worst_tensor[0] = 0;
    /* the GPU models' config names the precision they run at, as a run's does (the engine
     * picks the fused attention by it, and a step sets it) */
    nl_config cg = *c;
    cg.train.precision = (nl_train_precision)prec;
    cg.train.attention = g_attention;
    GPU->set_precision(GPU, prec);
    if (!(mc = nl_model_create(c, CPU, err)) || !(mg = nl_model_create(&cg, GPU, err)) ||
        !(mh = nl_model_create(&cg, GPU, err)))
        goto out;
    int64_t np = nl_model_num_params(mc);
    float *pc = malloc(sizeof(float) * (size_t)np);
    nan_fill(pc, np);
    nl_model_get_params(mc, pc);
    nl_model_set_params(mg, pc);
    nl_model_set_params(mh, pc);
    free(pc);
    if (check_grads(mc, mg, c, loss_err, grad_err, worst_tensor, err))
        goto out;
    rc = train_three(mc, mg, mh, &cg, train_err, graph_same, err);
out:
    if (rc == 0 && GPU->last_error(GPU)[0]) {
        nl_fail(err, NL_ERR_RUN, "CUDA: %s", GPU->last_error(GPU));
        rc = -1;
    }
    nl_model_free(mc);
    nl_model_free(mg);
    nl_model_free(mh);
    GPU->set_precision(GPU, NL_PREC_FP32);
    return rc;
}

static void run_all(int moe)
{
    for (int p = 0; p < N_PLACEMENTS; p++) {
        nl_config c;
        nl_error err = {0};
        double le, ge, te;
        bool gs;
        char wt[96];
        if (make_config(&c, p, moe, &err)) {
            T_CHECK(0, "%s%s: config: %s", placements[p], moe ? "+moe" : "", err.msg);
            continue;
        }
        if (compare_config(&c, NL_PREC_FP32, &le, &ge, wt, &te, &gs, &err)) {
            T_CHECK(0, "%s%s: %s", placements[p], moe ? "+moe" : "", err.msg);
            continue;
        }
        printf("# fp32 %-12s %-5s loss err %.2e  grad err %.2e (%s)  10-step loss err %.2e\n",
               placements[p], moe ? "moe" : "dense", le, ge, wt, te);
        T_CHECK(le <= 1e-4, "%s%s: loss relative error %.3g", placements[p], moe ? "+moe" : "", le);
        T_CHECK(ge <= 1e-3, "%s%s: gradient %s relative error %.3g", placements[p],
                moe ? "+moe" : "", wt, ge);
        T_CHECK(te <= 1e-4, "%s%s: AdamW step losses relative error %.3g", placements[p],
                moe ? "+moe" : "", te);
        T_CHECK(gs, "%s%s: graphed steps differ from plain ones", placements[p], moe ? "+moe" : "");
    }
}

/* fp32 with the fused attention, which the engine uses only when asked to in fp32 */
static void cuda_parity_dense(void)
{
    g_attention = NL_ATTN_FUSED;
    run_all(0);
    g_attention = NL_ATTN_AUTO;
}

static void cuda_parity_moe(void)
{
    g_attention = NL_ATTN_FUSED;
    run_all(1);
    g_attention = NL_ATTN_AUTO;
}

/* bf16 and tf32 matmuls: figures only. */
static void cuda_parity_low_precision(void)
{
    static const char *names[] = {"fp32", "tf32", "bf16"};
    for (int prec = NL_PREC_TF32; prec <= NL_PREC_BF16; prec++)
        for (int moe = 0; moe <= 1; moe++)
            for (int p = 0; p < N_PLACEMENTS; p++) {
                nl_config c;
                nl_error err = {0};
                double le, ge, te;
                bool gs;
                char wt[96];
                if (make_config(&c, p, moe, &err) ||
                    compare_config(&c, (nl_precision)prec, &le, &ge, wt, &te, &gs, &err)) {
                    T_CHECK(0, "%s %s%s: %s", names[prec], placements[p], moe ? "+moe" : "",
                            err.msg);
                    continue;
                }
                printf("# %s %-12s %-5s loss err %.2e  grad err %.2e (%s)  10-step loss err "
                       "%.2e\n",
                       names[prec], placements[p], moe ? "moe" : "dense", le, ge, wt, te);
                T_CHECK(gs, "%s %s%s: graphed steps differ from plain ones", names[prec],
                        placements[p], moe ? "+moe" : "");
            }
}

/* Head size 64: fp32 checked as above; tf32 and bf16 (the fused attention on tensor cores, with
 * bf16 operands) printed, and checked only for NaN (a NaN makes an error infinite). */
static void cuda_parity_head64(void)
{
    static const char *names[] = {"fp32", "tf32", "bf16"};
    static const int which[] = {1, 4}; /* pre (rope, swiglu), hybrid (qkv norms, gelu) */
    for (int prec = NL_PREC_FP32; prec <= NL_PREC_BF16; prec++)
        for (int i = 0; i < 2; i++)
            for (int moe = 0; moe <= 1; moe++) {
                int p = which[i];
                nl_config c;
                nl_error err = {0};
                double le, ge, te;
                bool gs;
                char wt[96];
                if (make_config_d64(&c, p, moe, &err) ||
                    compare_config(&c, (nl_precision)prec, &le, &ge, wt, &te, &gs, &err)) {
                    T_CHECK(0, "%s %s%s d64: %s", names[prec], placements[p], moe ? "+moe" : "",
                            err.msg);
                    continue;
                }
                printf("# %s %-12s %-5s D=64 T=80 loss err %.2e  grad err %.2e (%s)  10-step loss "
                       "err %.2e\n",
                       names[prec], placements[p], moe ? "moe" : "dense", le, ge, wt, te);
                T_CHECK(isfinite(le) && isfinite(ge) && isfinite(te), "%s %s%s d64: NaN",
                        names[prec], placements[p], moe ? "+moe" : "");
                T_CHECK(gs, "%s %s%s d64: graphed steps differ from plain ones", names[prec],
                        placements[p], moe ? "+moe" : "");
                if (prec == NL_PREC_FP32) {
                    T_CHECK(le <= 1e-4, "%s%s d64: loss relative error %.3g", placements[p],
                            moe ? "+moe" : "", le);
                    T_CHECK(ge <= 1e-3, "%s%s d64: gradient %s relative error %.3g", placements[p],
                            moe ? "+moe" : "", wt, ge);
                    T_CHECK(te <= 1e-4, "%s%s d64: AdamW step losses relative error %.3g",
                            placements[p], moe ? "+moe" : "", te);
                }
            }
}

/* No object or no device: the one line "SKIP cuda_parity: reason", and success. */
static char skip_reason[512];
static void cuda_parity(void)
{
    t_skip(skip_reason);
}
static int skip(const char *reason)
{
    if (reason != skip_reason)
        snprintf(skip_reason, sizeof skip_reason, "%s", reason);
    T_RUN(cuda_parity);
    return 0;
}

int main(void)
{
    int broken;
    GPU = cuda_load(NULL, skip_reason, sizeof skip_reason, &broken);
    if (!GPU) {
        if (broken) {
            printf("FAIL cuda_parity: %s\n", skip_reason);
            return 1;
        }
        return skip(skip_reason);
    }
    CPU = nl_kernels_cpu_create(1);
    T_RUN(cuda_parity_dense);
    T_RUN(cuda_parity_moe);
    T_RUN(cuda_parity_low_precision);
    T_RUN(cuda_parity_head64);
    CPU->destroy(CPU);
    GPU->destroy(GPU);
    T_END();
}
