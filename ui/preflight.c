#include "preflight.h"
#include "engine/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int64_t preflight_run_bytes(const nl_config *c, int64_t *params)
{
    const nl_model_config *m = &c->model;
    int64_t d = m->d_model, L = m->layers, T = m->seq_len, B = c->train.batch;
    int64_t V = nl_config_vocab(c), h = nl_config_ffn_hidden(c);
    int64_t ffn = (m->ffn == NL_FFN_SWIGLU ? 3 : 2) * d * h; /* per expert */
    int64_t moe_layers = m->moe_experts > 0 && m->moe_every > 0 ? L / m->moe_every : 0;
    int64_t p = V * d + (m->pos == NL_POS_LEARNED ? T * d : 0) + (m->tied ? 0 : V * d);
    p += L * 4 * d * d + (L - moe_layers) * ffn;
    p += moe_layers * ((int64_t)m->moe_experts * ffn + (int64_t)m->moe_experts * d);
    p += (2 * L + 2) * 2 * d; /* norms, roughly */
    if (params)
        *params = p;
    /* activations kept for backward: a few dozen d-vectors, the FFN hidden (k experts for
     * MoE) and the attention matrices per layer and token, and the logits twice */
    int64_t k = m->moe_experts > 0 ? m->moe_top_k : 1;
    int64_t per_token_layer = 24 * d + 3 * h * k + 2 * (int64_t)m->heads * T;
    int64_t act = B * T * (L * per_token_layer + 2 * V);
    return 4 * (4 * p + act);
}

int64_t preflight_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return (int64_t)kb * 1024;
}

/* mkdir -p, and the directory writable */
static int make_dirs(const char *path, char *why, int len)
{
    nl_error err = {0};
    if (nl_mkdir_p(path, &err)) {
        snprintf(why, (size_t)len, "%s", err.msg);
        return -1;
    }
    if (access(path, W_OK) != 0) {
        snprintf(why, (size_t)len, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void fmt_bytes(int64_t b, char *buf, int len)
{
    if (b >= ((int64_t)1 << 30))
        snprintf(buf, (size_t)len, "%.1f GiB", (double)b / (1 << 30));
    else
        snprintf(buf, (size_t)len, "%.0f MiB", (double)b / (1 << 20));
}

int preflight_check(const nl_config *cfgs, int n, const char *base_dir, char *msg, int len)
{
    char why[1200];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const nl_config *c = &cfgs[i];
        const char *src = c->data.source;
        const char *path = !strncmp(src, "text:", 5)     ? src + 5
                           : !strncmp(src, "tokens:", 7) ? src + 7
                                                         : NULL;
        struct stat st;
        if (path && (stat(path, &st) != 0 || access(path, R_OK) != 0)) {
            snprintf(msg, (size_t)len,
                     "%s: data.source %s: cannot read %s (%s); set data.source "
                     "to a readable file, or markov / prose",
                     c->name, src, path, strerror(errno));
            return -1;
        }
        if (path && S_ISDIR(st.st_mode)) {
            snprintf(msg, (size_t)len, "%s: data.source %s: %s is a directory, not a file", c->name,
                     src, path);
            return -1;
        }
        total += preflight_run_bytes(c, NULL);
    }
    int64_t avail = preflight_mem_available();
    int cuda = n > 0 && cfgs[0].train.device == NL_DEVICE_CUDA;
    if (!cuda && avail > 0 && total > avail) {
        char need[32], have[32], one[32];
        int64_t params = 0, b = preflight_run_bytes(&cfgs[0], &params);
        fmt_bytes(total, need, sizeof need);
        fmt_bytes(avail, have, sizeof have);
        fmt_bytes(b, one, sizeof one);
        snprintf(msg, (size_t)len,
                 "too large: %d run%s need%s about %s (%s: %.3g M parameters, %s), "
                 "the machine has %s available; lower model.d_model, model.layers, train.batch "
                 "or model.seq_len",
                 n, n == 1 ? "" : "s", n == 1 ? "s" : "", need, cfgs[0].name, params / 1e6, one,
                 have);
        return -1;
    }
    if (make_dirs(base_dir, why, sizeof why)) {
        snprintf(msg, (size_t)len,
                 "cannot create the run directory: %.900s (--out names where "
                 "runs go)",
                 why);
        return -1;
    }
    return 0;
}
