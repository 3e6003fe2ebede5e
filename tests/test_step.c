/* The training step (engine/step.h) on the CPU: the queued way (every op queued, the update's
 * scalars in backend memory, the bad-step test on the backend, one read back) gives the plain
 * way's bits, step after step, with clipping active and a changing learning rate; a bad step
 * (a non-finite loss) leaves parameters, moments and the AdamW step counter as they were, both
 * ways; train.cuda_graphs picks the way and names itself in errors. The captured CUDA graph is
 * the queued way recorded once: tests/test_cuda_parity.c compares it on a GPU. */
#include <stdint.h>

#include "engine/config.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "engine/step.h"
#include "kernels/kernels.h"
#include "t.h"

static nl_kernels *cpu;

#define B 3
#define T 8
#define L 2

static void config(nl_config *c, const char *const *sets)
{
    nl_error err = {0};
    nl_config_defaults(c);
    const char *base[] = {"model.layers=2",  "model.d_model=16", "model.heads=2",
                          "model.seq_len=8", "train.batch=3",    "data.vocab=13",
                          "model.vocab=13",  "train.clip=0.05",  NULL};
    for (int i = 0; base[i]; i++)
        T_CHECK(nl_config_set_kv(c, base[i], &err) == 0, "%s: %s", base[i], err.msg);
    for (int i = 0; sets && sets[i]; i++)
        T_CHECK(nl_config_set_kv(c, sets[i], &err) == 0, "%s: %s", sets[i], err.msg);
    T_CHECK(nl_config_validate(c, &err) == 0, "config: %s", err.msg);
}

typedef struct {
    nl_model *m;
    nl_optim *o;
    nl_step *s;
} trainer;

static int trainer_open(trainer *t, const nl_config *c, nl_step_way way, nl_error *err)
{
    memset(t, 0, sizeof *t);
    if (!(t->m = nl_model_create(c, cpu, err)) || !(t->o = nl_optim_create(t->m, &c->train, err)))
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

static void batch(int32_t *tok, int32_t *tgt, int step)
{
    uint32_t s = 2654435761u * (uint32_t)(step + 1);
    for (int i = 0; i < B * T; i++) {
        s = s * 1664525u + 1013904223u;
        tok[i] = (int32_t)((s >> 8) % 13);
        tgt[i] = (tok[i] * 5 + 2) % 13; /* learnable: the loss moves */
    }
}

typedef struct {
    nl_step_out out;
    float gn_attn[L], gn_ffn[L], rms[L];
} figures;

static bool same_bits(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* Both trainers' parameters and moments, bit for bit. */
static bool same_state(trainer *a, trainer *b)
{
    int64_t n = nl_model_num_params(a->m);
    size_t bytes = sizeof(float) * (size_t)n;
    float *ha = malloc(bytes), *hb = malloc(bytes);
    nl_model_get_params(a->m, ha);
    nl_model_get_params(b->m, hb);
    bool same = same_bits(ha, hb, bytes);
    same = same && same_bits(nl_optim_m(a->o), nl_optim_m(b->o), bytes);
    same = same && same_bits(nl_optim_v(a->o), nl_optim_v(b->o), bytes);
    free(ha);
    free(hb);
    return same && nl_optim_t(a->o) == nl_optim_t(b->o);
}

static int one_step(trainer *t, int step, float lr, figures *f, nl_error *err)
{
    int32_t tok[B * T], tgt[B * T];
    batch(tok, tgt, step);
    return nl_step_run(t->s, tok, tgt, B, lr, f->gn_attn, f->gn_ffn, f->rms, NULL, &f->out, err);
}

static void compare_ways(const char *const *sets, const char *what)
{
    nl_config c;
    config(&c, sets);
    trainer p, q;
    nl_error err = {0};
    T_CHECK(trainer_open(&p, &c, NL_STEP_PLAIN, &err) == 0, "%s: plain: %s", what, err.msg);
    T_CHECK(trainer_open(&q, &c, NL_STEP_QUEUED, &err) == 0, "%s: queued: %s", what, err.msg);
    for (int s = 0; s < 12 && p.s && q.s; s++) {
        figures fp, fq;
        float lr = 3e-3f * (1.0f + 0.25f * (float)(s % 4)); /* a schedule's changing rate */
        T_CHECK(one_step(&p, s, lr, &fp, &err) == 0, "%s: plain step %d: %s", what, s, err.msg);
        T_CHECK(one_step(&q, s, lr, &fq, &err) == 0, "%s: queued step %d: %s", what, s, err.msg);
        T_CHECK(!fp.out.bad && !fq.out.bad, "%s: step %d judged bad", what, s);
        T_CHECK(same_bits(&fp.out.loss, &fq.out.loss, sizeof(float)) &&
                    same_bits(&fp.out.grad_norm, &fq.out.grad_norm, sizeof(float)),
                "%s: step %d: loss %.9g / %.9g, grad norm %.9g / %.9g", what, s, fp.out.loss,
                fq.out.loss, fp.out.grad_norm, fq.out.grad_norm);
        T_CHECK(same_bits(fp.gn_attn, fq.gn_attn, sizeof fp.gn_attn) &&
                    same_bits(fp.gn_ffn, fq.gn_ffn, sizeof fp.gn_ffn) &&
                    same_bits(fp.rms, fq.rms, sizeof fp.rms),
                "%s: step %d: per-layer figures differ", what, s);
        T_CHECK(fp.out.grad_norm > 0.05f, "%s: step %d: clipping not exercised (norm %g)", what, s,
                fp.out.grad_norm);
        T_CHECK(same_state(&p, &q), "%s: after step %d the parameters or moments differ", what, s);
    }
    trainer_close(&p);
    trainer_close(&q);
}

static void step_queued_matches_plain(void)
{
    compare_ways(NULL, "pre layernorm gelu");
    compare_ways((const char *const[]){"model.placement=post", "model.norm=rmsnorm",
                                       "model.ffn=swiglu", "model.pos=rope", "model.tied=true",
                                       "train.weight_decay=0.3", NULL},
                 "post rmsnorm swiglu rope tied");
}

/* A NaN weight makes the loss NaN: no update, both ways, and the step counter stays. */
static void step_bad_skips_update(void)
{
    nl_config c;
    config(&c, NULL);
    for (int way = NL_STEP_PLAIN; way <= NL_STEP_QUEUED; way++) {
        trainer t, ref;
        nl_error err = {0};
        figures f;
        if (trainer_open(&t, &c, (nl_step_way)way, &err) ||
            trainer_open(&ref, &c, NL_STEP_PLAIN, &err)) {
            T_CHECK(0, "open: %s", err.msg);
            return;
        }
        T_CHECK(one_step(&t, 0, 1e-3f, &f, &err) == 0 && one_step(&ref, 0, 1e-3f, &f, &err) == 0,
                "first step: %s", err.msg);
        int64_t n = nl_model_num_params(t.m);
        float *h = malloc(sizeof(float) * (size_t)n);
        nl_model_get_params(t.m, h);
        h[n / 2] = NAN;
        nl_model_set_params(t.m, h);
        nl_model_set_params(ref.m, h);
        T_CHECK(one_step(&t, 1, 1e-3f, &f, &err) == 0, "way %d: bad step: %s", way, err.msg);
        T_CHECK(f.out.bad && isnan(f.out.loss), "way %d: a NaN loss (%g) was not judged bad", way,
                f.out.loss);
        T_CHECK(nl_optim_t(t.o) == 1, "way %d: the step counter moved to %lld", way,
                (long long)nl_optim_t(t.o));
        T_CHECK(same_state(&t, &ref), "way %d: a bad step changed parameters or moments", way);
        float *after = malloc(sizeof(float) * (size_t)n);
        nl_model_get_params(t.m, after);
        T_CHECK(same_bits(h, after, sizeof(float) * (size_t)n), "way %d: parameters changed", way);
        free(after);
        free(h);
        trainer_close(&t);
        trainer_close(&ref);
    }
}

/* train.cuda_graphs on the CPU: auto steps plain and says why; on is refused naming the key;
 * a queued step refuses MoE. */
static void step_ways(void)
{
    nl_config c;
    config(&c, NULL);
    nl_error err = {0};
    nl_model *m = nl_model_create(&c, cpu, &err);
    nl_optim *o = m ? nl_optim_create(m, &c.train, &err) : NULL;
    T_CHECK(o != NULL, "create: %s", err.msg);
    nl_step *s = nl_step_create(m, o, NL_GRAPHS_AUTO, &err);
    T_CHECK(s && nl_step_get_way(s) == NL_STEP_PLAIN, "auto on the CPU is not plain");
    T_CHECK(s && strstr(nl_step_describe(s), "plain (the backend cannot capture"), "auto says '%s'",
            s ? nl_step_describe(s) : "");
    nl_step_free(s);
    s = nl_step_create(m, o, NL_GRAPHS_ON, &err);
    T_CHECK(!s && strstr(err.msg, "train.cuda_graphs: on, but the backend cannot capture"),
            "on: '%s'", err.msg);
    nl_step_free(s);
    nl_optim_free(o);
    nl_model_free(m);

    config(&c, (const char *const[]){"model.moe.experts=4", "model.moe.top_k=2", NULL});
    m = nl_model_create(&c, cpu, &err);
    o = m ? nl_optim_create(m, &c.train, &err) : NULL;
    s = o ? nl_step_create_way(m, o, NL_STEP_QUEUED, &err) : NULL;
    T_CHECK(o && !s && strstr(err.msg, "MoE"), "queued MoE: '%s'", err.msg);
    nl_optim_free(o);
    nl_model_free(m);
}

int main(void)
{
    cpu = nl_kernels_cpu_create(1);
    T_RUN(step_queued_matches_plain);
    T_RUN(step_bad_skips_update);
    T_RUN(step_ways);
    cpu->destroy(cpu);
    T_END();
}
