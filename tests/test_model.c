/* The model at its edges: a forward on fewer rows than train.batch, odd sequence lengths cut
 * into attention blocks, MoE layers whose experts get no token, Mix-LN with few layers, tied
 * embeddings without a final norm. Values are compared with a second model built for the
 * smaller shape, with the unblocked attention, or with central finite differences. */
#include <stdint.h>

#include "engine/config.h"
#include "engine/memest.h"
#include "engine/model.h"
#include "kernels/kernels.h"
#include "t.h"

static nl_kernels *cpu;

static void tiny(nl_config *c, const char *const *sets)
{
    nl_error err = {0};
    nl_config_defaults(c);
    const char *base[] = {"model.layers=2", "model.d_model=16", "model.heads=2",  "model.seq_len=8",
                          "train.batch=4",  "data.vocab=11",    "model.vocab=11", NULL};
    for (int i = 0; base[i]; i++)
        T_CHECK(nl_config_set_kv(c, base[i], &err) == 0, "%s: %s", base[i], err.msg);
    for (int i = 0; sets && sets[i]; i++)
        T_CHECK(nl_config_set_kv(c, sets[i], &err) == 0, "%s: %s", sets[i], err.msg);
}

static nl_model *build(const nl_config *c)
{
    nl_error err = {0};
    nl_model *m = nl_model_create(c, cpu, &err);
    T_CHECK(m != NULL, "nl_model_create: %s", err.msg);
    return m;
}

/* Deterministic tokens and targets in [0, V). */
static void batch_tokens(int32_t *tok, int32_t *tgt, int64_t n, int V, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        tok[i] = (int32_t)((s >> 8) % (uint32_t)V);
        s = s * 1664525u + 1013904223u;
        tgt[i] = (int32_t)((s >> 8) % (uint32_t)V);
    }
}

/* max |a - b| / max(1e-3, max |b|) */
static double rel_diff(const float *a, const float *b, int64_t n)
{
    double d = 0, ref = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        d = e > d || isnan(e) ? (isnan(e) ? INFINITY : e) : d;
        ref = fmax(ref, fabs((double)b[i]));
    }
    return d / ref;
}

typedef struct step_out {
    float loss, aux, z, gnorm;
    float *grads; /* num_params */
    float gn_attn[NL_MAX_LAYERS], gn_ffn[NL_MAX_LAYERS], rms[NL_MAX_LAYERS];
} step_out;

static int forward_backward(nl_model *m, const int32_t *tok, const int32_t *tgt, int B, step_out *o)
{
    nl_error err = {0};
    if (nl_model_forward(m, tok, tgt, B, &o->loss, &o->aux, &o->z, &err) ||
        nl_model_backward(m, &err)) {
        T_CHECK(0, "forward/backward: %s", err.msg);
        return -1;
    }
    o->grads = malloc(sizeof(float) * (size_t)nl_model_num_params(m));
    nl_model_get_grads(m, o->grads);
    nl_model_stats(m, &o->gnorm, o->gn_attn, o->gn_ffn, o->rms, NULL);
    return 0;
}

/* A forward of B rows on a model built for train.batch > B gives what a model built for
 * exactly B rows gives: the loss, every gradient and the per-layer statistics. */
static void check_small_batch(const char *what, const char *const *sets)
{
    nl_config big, small;
    tiny(&big, sets);
    tiny(&small, sets);
    nl_config_set(&small, "train.batch", "2", NULL);
    nl_model *mb = build(&big), *ms = build(&small);
    if (!mb || !ms) {
        nl_model_free(mb);
        nl_model_free(ms);
        return;
    }
    int T = big.model.seq_len, L = big.model.layers, V = big.model.vocab;
    int32_t tok[4 * 64], tgt[4 * 64];
    step_out a = {0}, b = {0};
    /* a full batch first, so that the big model's buffers hold rows 2..3 of other data */
    batch_tokens(tok, tgt, 4 * T, V, 7);
    forward_backward(mb, tok, tgt, 4, &a);
    free(a.grads);
    a.grads = NULL;
    batch_tokens(tok, tgt, 2 * T, V, 8);
    if (!forward_backward(mb, tok, tgt, 2, &a) && !forward_backward(ms, tok, tgt, 2, &b)) {
        int64_t n = nl_model_num_params(mb);
        T_NEAR(a.loss, b.loss, 1e-6, what);
        T_CHECK(rel_diff(a.grads, b.grads, n) < 1e-5, "%s: gradients differ by %.3g", what,
                rel_diff(a.grads, b.grads, n));
        T_NEAR(a.gnorm, b.gnorm, 1e-5, what);
        for (int l = 0; l < L; l++) {
            T_NEAR(a.rms[l], b.rms[l], 1e-5, what);
            T_NEAR(a.gn_attn[l], b.gn_attn[l], 1e-5, what);
            T_NEAR(a.gn_ffn[l], b.gn_ffn[l], 1e-5, what);
        }
        if (big.model.moe_experts > 0) {
            T_NEAR(a.aux, b.aux, 1e-5, what);
            T_NEAR(a.z, b.z, 1e-5, what);
        }
    }
    free(a.grads);
    free(b.grads);
    nl_model_free(mb);
    nl_model_free(ms);
}

static void test_batch_below_configured(void)
{
    check_small_batch("pre", NULL);
    const char *post[] = {"model.placement=post", "model.tied=true", NULL};
    check_small_batch("post tied", post);
    const char *hyb[] = {"model.placement=hybrid_star", "model.pos=rope", "model.norm=rmsnorm",
                         NULL};
    check_small_batch("hybrid_star rope", hyb);
    const char *moe[] = {"model.moe.experts=4", "model.moe.top_k=2", "model.ffn=swiglu", NULL};
    check_small_batch("moe", moe);
}

/* The causal attention cut into blocks of query rows gives the unblocked result, for a block
 * size that does not divide an odd T. */
static void test_attention_blocks_odd_T(void)
{
    const char *sets[] = {"model.seq_len=13", "model.pos=rope", "model.placement=preqk", NULL};
    nl_config c;
    tiny(&c, sets);
    c.train.attn_chunk = c.model.seq_len; /* one block: the full product */
    nl_model *whole = build(&c);
    c.train.attn_chunk = 5;
    nl_model *blocked = build(&c);
    if (whole && blocked) {
        int32_t tok[4 * 13], tgt[4 * 13];
        batch_tokens(tok, tgt, 4 * 13, c.model.vocab, 3);
        step_out a = {0}, b = {0};
        if (!forward_backward(whole, tok, tgt, 3, &a) &&
            !forward_backward(blocked, tok, tgt, 3, &b)) {
            T_NEAR(b.loss, a.loss, 1e-6, "loss");
            double d = rel_diff(b.grads, a.grads, nl_model_num_params(whole));
            T_CHECK(d < 1e-5, "blocked attention gradients differ by %.3g", d);
        }
        free(a.grads);
        free(b.grads);
    }
    nl_model_free(whole);
    nl_model_free(blocked);
}

/* Fused attention (the CPU's flash ops) against the pieces: the same loss and gradients, with
 * q, k, v read out of qkv (pre) and through split, RoPE and q/k norms (preqk), T over a tile. */
static void test_attention_fused_matches_pieces(void)
{
    const char *pre[] = {"model.seq_len=70", NULL};
    const char *qk[] = {"model.seq_len=70", "model.pos=rope", "model.placement=preqk", NULL};
    const char *const *cases[] = {pre, qk};
    for (int i = 0; i < 2; i++) {
        nl_config c;
        tiny(&c, cases[i]);
        c.train.attention = NL_ATTN_PIECES;
        nl_model *pieces = build(&c);
        c.train.attention = NL_ATTN_FUSED;
        nl_model *fused = build(&c);
        if (pieces && fused) {
            int32_t tok[4 * 70], tgt[4 * 70];
            batch_tokens(tok, tgt, 4 * 70, c.model.vocab, 5);
            step_out a = {0}, b = {0};
            if (!forward_backward(pieces, tok, tgt, 4, &a) &&
                !forward_backward(fused, tok, tgt, 4, &b)) {
                T_NEAR(b.loss, a.loss, 1e-5, cases[i][1] ? "preqk: loss" : "pre: loss");
                double d = rel_diff(b.grads, a.grads, nl_model_num_params(pieces));
                T_CHECK(d < 1e-4, "%s: fused attention gradients differ by %.3g",
                        cases[i][1] ? "preqk" : "pre", d);
            }
            free(a.grads);
            free(b.grads);
        }
        nl_model_free(pieces);
        nl_model_free(fused);
    }
}

/* Central differences of the loss against the analytic gradient on each tensor's largest
 * gradient, in float: coarse tolerances, but a missing or doubled term shows. The step is
 * small enough that MoE routing does not flip. */
static void check_fd(const char *what, const char *const *sets, int B)
{
    nl_config c;
    tiny(&c, sets);
    nl_model *m = build(&c);
    if (!m)
        return;
    int T = c.model.seq_len, V = c.model.vocab;
    int64_t n = nl_model_num_params(m);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(B * T)),
            *tgt = malloc(sizeof(int32_t) * (size_t)(B * T));
    batch_tokens(tok, tgt, (int64_t)B * T, V, 11);
    float *p = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
    nl_model_get_params(m, p);
    nl_error err = {0};
    float loss, aux, z;
    nl_model_forward(m, tok, tgt, B, &loss, &aux, &z, &err);
    nl_model_backward(m, &err);
    nl_model_get_grads(m, g);
    double ca = c.model.moe_experts ? c.model.moe_aux_loss : 0,
           cz = c.model.moe_experts ? c.model.moe_z_loss : 0;
    int worst_i = -1;
    double worst = 0;
    for (int t = 0; t < nl_model_num_tensors(m); t++) {
        const nl_tensor *tt = nl_model_tensor(m, t);
        /* the tensor's largest gradient */
        int64_t best = tt->offset;
        for (int64_t i = tt->offset; i < tt->offset + tt->numel; i++)
            if (fabsf(g[i]) > fabsf(g[best]))
                best = i;
        double h = 2.5e-3 * fmax(1.0, fabs(p[best])), tot[2];
        for (int s = 0; s < 2; s++) {
            float saved = p[best];
            p[best] = (float)(saved + (s ? -h : h));
            nl_model_set_params(m, p);
            nl_model_forward(m, tok, tgt, B, &loss, &aux, &z, &err);
            tot[s] = loss + (ca ? ca * aux : 0) + (cz ? cz * z : 0);
            p[best] = saved;
        }
        double fd = (tot[0] - tot[1]) / (2 * h), e = fabs(fd - g[best]);
        T_CHECK(e <= 3e-3 + 0.05 * fabs(fd), "%s: %s[%lld]: gradient %.6g, differences %.6g", what,
                tt->name, (long long)(best - tt->offset), g[best], fd);
        if (e > worst) {
            worst = e;
            worst_i = t;
        }
    }
    nl_model_set_params(m, p);
    if (worst_i >= 0)
        printf("# %s: worst |fd - grad| %.2e (%s)\n", what, worst,
               nl_model_tensor(m, worst_i)->name);
    free(p);
    free(g);
    free(tok);
    free(tgt);
    nl_model_free(m);
}

static void test_tied_without_final_norm(void)
{
    const char *sets[] = {"model.tied=true", "model.final_norm=false", "model.placement=pre", NULL};
    check_fd("tied, no final norm", sets, 2);
}

/* 8 experts, top-1, 3 tokens: most experts receive nothing in the step. */
static void test_moe_idle_experts(void)
{
    const char *sets[] = {"model.moe.experts=8",    "model.moe.top_k=1",     "model.seq_len=3",
                          "model.moe.aux_loss=0.1", "model.moe.z_loss=0.01", NULL};
    check_fd("moe, idle experts", sets, 1);
    nl_config c;
    tiny(&c, sets);
    nl_model *m = build(&c);
    if (!m)
        return;
    int32_t tok[3], tgt[3];
    batch_tokens(tok, tgt, 3, c.model.vocab, 5);
    nl_error err = {0};
    float loss, frac[2 * 8], ent[2], gr[2], ge[2];
    /* what an earlier step left in the gradients (the backward clears only what no product
     * writes): on the CPU the buffer is host memory */
    float *stale = nl_model_grads(m);
    for (int64_t i = 0; i < nl_model_num_params(m); i++)
        stale[i] = 7.0f;
    T_CHECK(!nl_model_forward(m, tok, tgt, 1, &loss, NULL, NULL, &err), "%s", err.msg);
    T_CHECK(!nl_model_backward(m, &err), "%s", err.msg);
    nl_moe_stats ms = {2, 8, frac, ent, gr, ge};
    float gnorm;
    nl_model_stats(m, &gnorm, NULL, NULL, NULL, &ms);
    for (int l = 0; l < 2; l++) {
        double sum = 0;
        int idle = 0;
        for (int e = 0; e < 8; e++) {
            sum += frac[l * 8 + e];
            idle += frac[l * 8 + e] == 0.0f;
        }
        T_NEAR(sum, 1.0, 1e-6, "expert fractions sum");
        T_CHECK(idle >= 5, "layer %d: %d idle experts, expected at least 5", l, idle);
        T_CHECK(isfinite(ge[l]) && isfinite(gr[l]), "layer %d: gradient norms not finite", l);
    }
    /* an idle expert's weights get no gradient at all (whatever was there before) */
    float *g = malloc(sizeof(float) * (size_t)nl_model_num_params(m));
    nl_model_get_grads(m, g);
    for (int e = 0; e < 8; e++) {
        if (frac[e] != 0.0f)
            continue;
        char name[96];
        snprintf(name, sizeof name, "blocks.0.ffn.experts.%d.%s.weight", e, e % 2 ? "up" : "down");
        const nl_tensor *t = nl_model_find_tensor(m, name);
        T_CHECK(t != NULL, "no tensor %s", name);
        for (int64_t i = 0; t && i < t->numel; i++)
            if (g[t->offset + i] != 0.0f) {
                T_CHECK(0, "idle expert %d has gradient %g", e, g[t->offset + i]);
                break;
            }
    }
    free(g);
    nl_model_free(m);
}

/* Mix-LN puts Post-Norm in the first floor(L/4) blocks: none below 4 layers. */
static void test_mixln_few_layers(void)
{
    for (int L = 1; L <= 9; L++) {
        nl_config c;
        char v[16];
        tiny(&c, NULL);
        snprintf(v, sizeof v, "%d", L);
        nl_config_set(&c, "model.layers", v, NULL);
        nl_config_set(&c, "model.placement", "mixln", NULL);
        nl_plan p;
        nl_plan_resolve(&c.model, &p);
        for (int l = 0; l < L; l++) {
            bool post = l < L / 4;
            T_CHECK(p.attn[l].post == post && p.attn[l].pre == !post && p.ffn[l].post == post,
                    "mixln L=%d: block %d has pre %d post %d", L, l, p.attn[l].pre, p.attn[l].post);
        }
        T_CHECK(p.final_norm, "mixln L=%d: no final norm", L);
    }
    const char *sets[] = {"model.placement=mixln", "model.layers=3", NULL};
    check_fd("mixln, 3 layers", sets, 2);
}

static void test_forward_refuses_bad_input(void)
{
    nl_config c;
    tiny(&c, NULL);
    nl_model *m = build(&c);
    if (!m)
        return;
    int32_t tok[5 * 8] = {0}, tgt[5 * 8] = {0};
    nl_error err = {0};
    float loss;
    T_CHECK(nl_model_forward(m, tok, tgt, 5, &loss, NULL, NULL, &err) != 0,
            "a batch of 5 on a model built for 4 was accepted");
    T_CHECK(nl_model_forward(m, tok, tgt, 0, &loss, NULL, NULL, &err) != 0,
            "a batch of 0 was accepted");
    tgt[13] = 11;
    T_CHECK(nl_model_forward(m, tok, tgt, 2, &loss, NULL, NULL, &err) != 0 &&
                strstr(err.msg, "11") != NULL,
            "a target equal to the vocabulary was accepted: %s", err.msg);
    tgt[13] = 0;
    tok[3] = -1;
    T_CHECK(nl_model_forward(m, tok, tgt, 2, &loss, NULL, NULL, &err) != 0,
            "a negative token was accepted");
    nl_model_free(m);
}

/* The memory estimate made from the config alone (engine/memest.c) against the model built:
 * the parameter count exactly, the activations within 2%, for each placement, FFN kind,
 * positions, norms, tied head and MoE. */
static void test_memory_estimate_matches_model(void)
{
    const char *const variants[][6] = {
        {"model.placement=pre", NULL},
        {"model.placement=post", "model.norm=rmsnorm", NULL},
        {"model.placement=hybrid", "model.ffn=swiglu", "model.pos=rope", NULL},
        {"model.placement=hybrid_star", "model.tied=true", NULL},
        {"model.placement=sandwich", "model.layers=3", NULL},
        {"model.moe.experts=4", "model.moe.top_k=2", "model.moe.every=2", "model.ffn=swiglu", NULL},
        {"model.placement=mixln", "model.layers=4", "model.moe.experts=3", NULL},
        {"train.attention=fused", NULL}, /* the row log-sum-exps, not the scores */
        {"train.attention=fused", "model.pos=rope", NULL},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        nl_config c;
        tiny(&c, variants[i]);
        nl_model *m = build(&c);
        if (!m)
            continue;
        nl_mem_estimate e;
        nl_mem_estimate_config(&c, 11, c.train.attention == NL_ATTN_FUSED, &e);
        int64_t act = 0;
        nl_model_bytes(m, NULL, NULL, &act);
        T_CHECK(e.params == (double)nl_model_num_params(m),
                "%s: estimate %.0f parameters, model %lld", variants[i][0], e.params,
                (long long)nl_model_num_params(m));
        T_CHECK(fabs(e.act_bytes - (double)act) <= 0.02 * (double)act,
                "%s: estimate %.0f activation bytes, model %lld", variants[i][0], e.act_bytes,
                (long long)act);
        T_CHECK(e.total == e.param_bytes * 7 + e.act_bytes, "%s: total %.0f", variants[i][0],
                e.total);
        nl_model_free(m);
    }
}

/* Sizes that cannot fit are refused before anything is allocated, with the figure, the
 * limit and the keys; the estimate itself does not overflow at the keys' limits. */
static void test_too_large_refused(void)
{
    const char *const cases[][4] = {
        {"model.d_model=8192", "model.layers=256", "model.heads=64", NULL},
        {"model.vocab=1048576", "model.d_model=8192", "model.heads=64", NULL},
        {"train.batch=65536", "model.seq_len=65536", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nl_config c;
        tiny(&c, cases[i]);
        nl_mem_estimate e;
        nl_mem_estimate_config(&c, nl_config_vocab(&c), false, &e);
        T_CHECK(e.total > 4e11 && e.total < 1e30, "%s: estimate %g bytes", cases[i][0], e.total);
        nl_error err = {0};
        nl_model *m = nl_model_create(&c, cpu, &err);
        T_CHECK(m == NULL, "%s: a model of %g bytes was created", cases[i][0], e.total);
        T_CHECK(err.code == NL_ERR_USAGE && strstr(err.msg, "too large") &&
                    strstr(err.msg, "model.d_model") && strstr(err.msg, "available"),
                "%s: %s", cases[i][0], err.msg);
        nl_model_free(m);
    }
}

int main(void)
{
    cpu = nl_kernels_cpu_create(2);
    T_RUN(test_batch_below_configured);
    T_RUN(test_attention_blocks_odd_T);
    T_RUN(test_attention_fused_matches_pieces);
    T_RUN(test_tied_without_final_norm);
    T_RUN(test_moe_idle_experts);
    T_RUN(test_mixln_few_layers);
    T_RUN(test_forward_refuses_bad_input);
    T_RUN(test_memory_estimate_matches_model);
    T_RUN(test_too_large_refused);
    cpu->destroy(cpu);
    T_END();
}
