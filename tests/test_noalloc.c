/* Every buffer a step needs is allocated when the run is created: count the engine's heap
 * allocations (malloc/calloc/realloc, wrapped at link time) during training steps, for a
 * dense and an MoE model, with validation inside the window. */
#include <stdio.h>
#include <stdlib.h>

#include "../engine/config.h"
#include "../engine/run.h"
#include "t.h"

static long n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
    n_allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
    n_allocs++;
    return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
    n_allocs++;
    return __real_realloc(p, n);
}

static void steps_allocate_nothing(const char *what, const char *const *sets)
{
    nl_config c;
    nl_error err = {0};
    nl_config_defaults(&c);
    nl_config_set(&c, "model.layers", "2", NULL);
    nl_config_set(&c, "model.d_model", "32", NULL);
    nl_config_set(&c, "model.seq_len", "16", NULL);
    nl_config_set(&c, "train.steps", "50", NULL);
    nl_config_set(&c, "train.eval_every", "5", NULL);
    nl_config_set(&c, "train.threads", "2", NULL);
    for (int i = 0; sets[i]; i++)
        T_CHECK(nl_config_set_kv(&c, sets[i], &err) == 0, "%s", err.msg);
    nl_run_opts o = {.out_dir = "/tmp/normlab-test-noalloc"};
    nl_run *r = nl_run_create(&c, &o, &err);
    T_CHECK(r != NULL, "%s", err.msg);
    if (!r)
        return;
    /* the wrapping works: creating the run allocated */
    T_CHECK(n_allocs > 10, "only %ld allocations seen while creating a run", n_allocs);
    nl_metrics_row row;
    for (int i = 0; i < 3; i++) /* warm-up: first-touch allocations of libraries */
        nl_run_step(r, &err);
    while (nl_metrics_pop(nl_run_metrics(r), &row))
        ;
    long before = n_allocs;
    for (int i = 0; i < 20; i++) {
        nl_run_step(r, &err);
        while (nl_metrics_pop(nl_run_metrics(r), &row))
            ;
    }
    long during = n_allocs - before;
    printf("# %s: %ld allocations in 20 steps\n", what, during);
    T_CHECK(during == 0, "%s: %ld heap allocations inside 20 training steps", what, during);
    nl_run_free(r);
    if (system("rm -rf /tmp/normlab-test-noalloc") != 0)
        fprintf(stderr, "cleanup failed\n");
}

static void test_dense(void)
{
    const char *sets[] = {"model.placement=sandwich", NULL};
    steps_allocate_nothing("dense sandwich", sets);
}

static void test_moe(void)
{
    const char *sets[] = {"model.placement=hybrid", "model.moe.experts=4", "model.moe.top_k=2",
                          "model.ffn=swiglu", "model.pos=rope", NULL};
    steps_allocate_nothing("moe hybrid", sets);
}

int main(void)
{
    T_RUN(test_dense);
    T_RUN(test_moe);
    T_END();
}
