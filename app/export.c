/* normlab export: a checkpoint's weights as safetensors, named as PyTorch modules hold them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/ckpt.h"
#include "../engine/safetensors.h"
#include "commands.h"

static const char *EXPORT_USAGE =
    "usage: normlab export CKPT -o FILE.safetensors   (or --out FILE.safetensors)\n"
    "\n"
    "Writes the model weights (not the optimizer state) in the safetensors format, shaped\n"
    "[out_features, in_features] like torch.nn.Linear, with names listed in docs/FORMATS.md;\n"
    "__metadata__ holds `config` (the resolved YAML) and `step`.\n";

int nl_cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(EXPORT_USAGE, stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && i + 1 < argc) {
            out = argv[++i];
        } else if (a[0] == '-') {
            return nl_app_error(2, "export: unknown or incomplete option '%s'", a);
        } else if (!ckpt) {
            ckpt = a;
        } else {
            return nl_app_error(2, "export: more than one checkpoint given");
        }
    }
    if (!ckpt || !out)
        return nl_app_error(2, "export: usage: normlab export CKPT -o FILE.safetensors");
    nl_error err = {0};
    nl_ckpt ck;
    if (nl_ckpt_read(ckpt, &ck, 0, &err))
        return nl_app_error(2, "%s", err.msg);
    nl_st_tensor *ts = calloc((size_t)ck.n_tensors, sizeof(nl_st_tensor));
    int n = 0;
    for (int i = 0; i < ck.n_tensors; i++) {
        const nl_ckpt_tensor *t = &ck.tensors[i];
        if (!strncmp(t->name, "optim.", 6))
            continue;
        nl_st_tensor *s = &ts[n++];
        snprintf(s->name, sizeof s->name, "%s", t->name);
        s->dtype = NL_ST_F32;
        s->ndim = t->ndim;
        for (int d = 0; d < t->ndim && d < 4; d++)
            s->shape[d] = t->shape[d];
        s->numel = t->numel;
        s->data = t->data;
    }
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)ck.step);
    const char *keys[] = {"config", "step", "format"};
    const char *vals[] = {ck.config_yaml, step, "pt"};
    int rc = nl_st_write(out, ts, n, keys, vals, 3, &err);
    free(ts);
    nl_ckpt_free(&ck);
    if (rc)
        return nl_app_error(2, "%s", err.msg);
    printf("wrote %s: %d tensors, step %s\n", out, n, step);
    return 0;
}
