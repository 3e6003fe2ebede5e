/* Every host allocation of creating and stepping a run is checked: the allocator wrapper
 * (engine/xalloc.h) fails the n-th allocation, for every n that creating a run and taking
 * two steps makes, on a dense and an MoE model, through the run driver; each must end in a
 * clean error (a failed creation with a message, or a FAILED run with one), never a crash,
 * and a run that did get created must still step or fail cleanly. */
#include <string.h>

#include "../engine/config.h"
#include "../engine/driver.h"
#include "../engine/run.h"
#include "../engine/xalloc.h"
#include "t.h"

static void tiny(nl_config *c, bool moe)
{
    nl_config_defaults(c);
    const char *sets[] = {"model.layers=2", "model.d_model=16", "model.heads=2",
                          "model.seq_len=8", "train.batch=2", "train.steps=2",
                          "train.eval_every=0", "train.threads=1", "data.vocab=16", NULL};
    for (int i = 0; sets[i]; i++)
        nl_config_set_kv(c, sets[i], NULL);
    if (moe) {
        nl_config_set_kv(c, "model.moe.experts=4", NULL);
        nl_config_set_kv(c, "model.moe.top_k=2", NULL);
        nl_config_set_kv(c, "model.ffn=swiglu", NULL);
    }
}

/* Create, take two steps, free. Returns 0 finished, 1 a clean failure (with a message), -1 a
 * failure without one. */
static int create_and_step(const nl_config *c)
{
    nl_error err = {0};
    nl_run *r = nl_run_create(c, NULL, &err);
    if (!r)
        return err.code != 0 && err.msg[0] ? 1 : -1;
    nl_driver d;
    nl_driver_init(&d, r);
    nl_drive_opts o = {0};
    nl_run_state st = nl_driver_run(&d, &o, &err);
    int rc = st == NL_RUN_FINISHED ? 0 : st == NL_RUN_FAILED && err.msg[0] ? 1 : -1;
    nl_run_free(r);
    return rc;
}

static void sweep_failures(bool moe)
{
    nl_config c;
    tiny(&c, moe);
    nl_alloc_fail_at(0);
    T_CHECK(create_and_step(&c) == 0, "the run does not train without failures");
    long n = nl_alloc_count();
    T_CHECK(n > 10, "only %ld allocations through the wrapper", n);
    int clean = 0;
    for (long i = 1; i <= n; i++) {
        nl_alloc_fail_at(i);
        int rc = create_and_step(&c);
        T_CHECK(rc >= 0, "allocation %ld of %ld failed without a message", i, n);
        clean += rc == 1;
    }
    nl_alloc_fail_at(0);
    T_CHECK(clean > 0, "no failed allocation made the run fail");
}

static void test_alloc_fail_dense(void)
{
    sweep_failures(false);
}

static void test_alloc_fail_moe(void)
{
    sweep_failures(true);
}

int main(void)
{
    T_RUN(test_alloc_fail_dense);
    T_RUN(test_alloc_fail_moe);
    T_END();
}
