/* normlab eval: mean LM loss of a checkpoint on consecutive windows of a data source. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/ckpt.h"
#include "../engine/data.h"
#include "../engine/model.h"
#include "../engine/run.h"
#include "commands.h"

static const char *EVAL_USAGE =
    "usage: normlab eval CKPT [--data SPEC] [--batches N] [--device D] [--threads N]\n"
    "\n"
    "Reads SPEC (markov, prose, text:PATH or tokens:PATH; default: the checkpoint's data\n"
    "source) from its start in consecutive, non-overlapping windows of seq_len+1 tokens,\n"
    "train.batch windows per batch, N batches (default 8), and prints the mean LM loss as\n"
    "`loss <value>`.\n";

/* Build a model from a checkpoint's config and load its weights. */
static int model_from_ckpt(const char *path, nl_kernels *k, nl_config *c, nl_model **out,
                           nl_error *err)
{
    nl_ckpt ck;
    if (nl_ckpt_read(path, &ck, 0, err))
        return NL_ERR_USAGE;
    nl_config_defaults(c);
    if (nl_config_load_string(c, ck.config_yaml, strlen(ck.config_yaml), path, err)) {
        nl_ckpt_free(&ck);
        return NL_ERR_USAGE;
    }
    nl_model *m = nl_model_create(c, k, err);
    if (!m) {
        nl_ckpt_free(&ck);
        return NL_ERR_USAGE;
    }
    float *host = malloc(sizeof(float) * (size_t)nl_model_num_params(m));
    int rc = host ? nl_model_weights_from_ckpt(m, &ck, path, host, err)
                  : nl_fail(err, NL_ERR_RUN, "%s: out of memory", path);
    if (rc) {
        free(host);
        nl_model_free(m);
        nl_ckpt_free(&ck);
        return rc;
    }
    nl_model_set_params(m, host);
    free(host);
    nl_ckpt_free(&ck);
    *out = m;
    return 0;
}

int nl_cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *spec = NULL, *device = "cpu";
    long batches = 8, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(EVAL_USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            spec = argv[++i];
        } else if (!strcmp(a, "--batches") && i + 1 < argc) {
            if (nl_app_int("--batches", argv[++i], 1, 1000000, &batches))
                return 2;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (nl_app_int("--threads", argv[++i], 0, 1024, &threads))
                return 2;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (a[0] == '-') {
            return nl_app_error(
                2, "eval: unknown or incomplete option '%s' (see normlab eval --help)", a);
        } else if (!ckpt) {
            ckpt = a;
        } else {
            return nl_app_error(2, "eval: more than one checkpoint given");
        }
    }
    if (!ckpt)
        return nl_app_error(2, "eval: which checkpoint? (normlab eval CKPT [--data SPEC])");
    nl_error err = {0};
    nl_kernels *k = nl_backend_open(device, (int)threads, NULL, 0, &err);
    if (!k)
        return nl_app_error(2, "%s", err.msg);
    nl_config c;
    nl_model *m = NULL;
    if (model_from_ckpt(ckpt, k, &c, &m, &err)) {
        nl_backend_close(k);
        return nl_app_error(2, "%s", err.msg);
    }
    nl_data_config dc = c.data;
    if (spec)
        snprintf(dc.source, sizeof dc.source, "%s", spec);
    nl_data *d = nl_data_open(&dc, c.model.seq_len, c.train.seed, &err);
    int code = 0;
    if (!d) {
        code = nl_app_error(2, "%s", err.msg);
    } else if (nl_data_vocab(d) > c.model.vocab) {
        code = nl_app_error(2, "%s: vocabulary %d is larger than the model's %d", dc.source,
                            nl_data_vocab(d), c.model.vocab);
    } else {
        int B = c.train.batch, T = c.model.seq_len;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
        int32_t *tgt = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
        double sum = 0;
        for (long b = 0; b < batches && !code; b++) {
            float l;
            if (nl_data_seq_batch(d, b, tok, tgt, B, &err) ||
                nl_model_forward(m, tok, tgt, B, &l, NULL, NULL, &err))
                code = nl_app_error(nl_app_exit_code(err.code), "%s", err.msg);
            else
                sum += l;
        }
        if (!code)
            printf("loss %.6g\n", sum / (double)batches);
        free(tok);
        free(tgt);
    }
    if (d)
        nl_data_close(d);
    nl_model_free(m);
    nl_backend_close(k);
    return code;
}
