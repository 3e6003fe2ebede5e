/* The configuration: one table of keys drives defaults' checks, --set, get, and to_yaml, so
 * every path that sets a value parses and range-checks it the same way.
 * This file: the key table, setting and parsing values; the names of the enums are in
 * config_names.c, suggestions in config_suggest.c, getting values and YAML output in
 * config_write.c, defaults, validation and races in config_check.c. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_keys.h"
#include "fsutil.h"
#include "json_text.h"

_Static_assert(sizeof(nl_placement) == sizeof(int), "enums are stored through int pointers");
_Static_assert(sizeof(nl_norm_kind) == sizeof(int), "enums are stored through int pointers");
_Static_assert(sizeof(nl_schedule) == sizeof(int), "enums are stored through int pointers");

/* ---- names ------------------------------------------------------------------------------- */

#define PLACEMENT_CHOICES "post|pre|sandwich|preqk|hybrid|hybrid_star|mixln|deepnorm|custom"
#define NORM_CHOICES "layernorm|rmsnorm"
#define FFN_CHOICES "gelu|swiglu"
#define POS_CHOICES "learned|rope"
#define INIT_CHOICES "normal|megatron|deepnorm"
#define SCHEDULE_CHOICES "constant|linear|cosine"
#define DEVICE_CHOICES "auto|cpu|cuda"
#define PRECISION_CHOICES "fp32|tf32|bf16"
#define ATTENTION_CHOICES "auto|fused|pieces"
#define GRAPHS_CHOICES "auto|on|off"
#define TRI_CHOICES "auto|true|false"

/* ---- the key table ----------------------------------------------------------------------- */

/* clang-format off */
#define OFF(f) offsetof(nl_config, f)
#define SIZE(f) sizeof(((nl_config *)0)->f)
#define INT_IN(k, f, a, b, h) {k, T_INT, OFF(f), 0, a, b, B_IN, B_IN, NULL, h}
#define INT_GE(k, f, a, h) {k, T_INT, OFF(f), 0, a, 0, B_IN, B_NONE, NULL, h}
#define U64(k, f, h) {k, T_U64, OFF(f), 0, 0, 0, B_NONE, B_NONE, NULL, h}
#define FLT(k, f, a, ab, b, bb, h) {k, T_FLOAT, OFF(f), 0, a, b, ab, bb, NULL, h}
#define BOOL(k, f, h) {k, T_BOOL, OFF(f), 0, 0, 0, B_NONE, B_NONE, NULL, h}
#define ENUM(k, f, ch, h) {k, T_ENUM, OFF(f), 0, 0, 0, B_NONE, B_NONE, ch, h}
#define TRI(k, f, h) {k, T_TRI, OFF(f), 0, 0, 0, B_NONE, B_NONE, TRI_CHOICES, h}

/* Keys under one section stay together: to_yaml nests them in this order. */
const key_spec nl_config_key_table[] = {
    {"name", T_NAME, OFF(name), SIZE(name), 0, 0, B_NONE, B_NONE, NULL,
     "run name (also the run directory's name)"},

    ENUM("model.placement", model.placement, PLACEMENT_CHOICES, "where the norms sit"),
    ENUM("model.norm", model.norm, NORM_CHOICES, "norm kind"),
    ENUM("model.ffn", model.ffn, FFN_CHOICES, "feed-forward kind"),
    ENUM("model.pos", model.pos, POS_CHOICES, "positions: learned embeddings or rotary"),
    ENUM("model.init", model.init, INIT_CHOICES, "weight initialisation"),
    INT_IN("model.vocab", model.vocab, 0, 1048576, "vocabulary size (0 = from the data source)"),
    INT_IN("model.d_model", model.d_model, 8, 8192, "model width"),
    INT_IN("model.layers", model.layers, 1, NL_MAX_LAYERS, "number of blocks"),
    INT_GE("model.heads", model.heads, 1, "attention heads (must divide d_model)"),
    INT_IN("model.seq_len", model.seq_len, 2, 65536, "context length in tokens"),
    INT_IN("model.ffn_hidden", model.ffn_hidden, 0, 1048576,
           "FFN hidden size (0 = 4d for gelu, ~8d/3 for swiglu)"),
    BOOL("model.tied", model.tied, "LM head shares the token embedding"),
    FLT("model.rope_theta", model.rope_theta, 0, B_EX, 0, B_NONE, "RoPE base"),
    FLT("model.norm_eps", model.norm_eps, 0, B_EX, 1, B_IN, "epsilon inside every norm"),
    TRI("model.embed_norm", model.embed_norm, "norm on the embeddings (auto = by placement)"),
    TRI("model.final_norm", model.final_norm, "norm before the LM head (auto = by placement)"),

    BOOL("model.custom.attn.pre", model.custom_attn.pre, "custom: norm on the attention input"),
    BOOL("model.custom.attn.peri", model.custom_attn.peri, "custom: norm on the attention output"),
    BOOL("model.custom.attn.post", model.custom_attn.post, "custom: norm after the residual add"),
    BOOL("model.custom.attn.res_from_normed", model.custom_attn.res_from_normed,
         "custom: residual carries the normed input"),
    BOOL("model.custom.attn.qk", model.custom_attn.qk, "custom: normalise q and k per head"),
    BOOL("model.custom.attn.v", model.custom_attn.v, "custom: normalise v per head"),
    FLT("model.custom.attn.alpha", model.custom_attn.alpha, 0, B_EX, 1000, B_IN,
        "custom: residual scale"),
    BOOL("model.custom.ffn.pre", model.custom_ffn.pre, "custom: norm on the FFN input"),
    BOOL("model.custom.ffn.peri", model.custom_ffn.peri, "custom: norm on the FFN output"),
    BOOL("model.custom.ffn.post", model.custom_ffn.post, "custom: norm after the residual add"),
    BOOL("model.custom.ffn.res_from_normed", model.custom_ffn.res_from_normed,
         "custom: residual carries the normed input"),
    FLT("model.custom.ffn.alpha", model.custom_ffn.alpha, 0, B_EX, 1000, B_IN,
        "custom: residual scale"),

    INT_IN("model.moe.experts", model.moe_experts, 0, 256, "experts per MoE layer (0 = dense)"),
    INT_IN("model.moe.top_k", model.moe_top_k, 1, 64, "experts each token is routed to"),
    INT_IN("model.moe.every", model.moe_every, 1, NL_MAX_LAYERS, "MoE in every N-th block"),
    FLT("model.moe.aux_loss", model.moe_aux_loss, 0, B_IN, 0, B_NONE,
        "load-balancing loss coefficient"),
    FLT("model.moe.z_loss", model.moe_z_loss, 0, B_IN, 0, B_NONE, "router z-loss coefficient"),
    BOOL("model.moe.renorm", model.moe_renorm, "renormalise the top-k router weights"),

    INT_IN("train.steps", train.steps, 1, 1000000000, "optimizer steps"),
    INT_IN("train.batch", train.batch, 1, 65536, "sequences per step"),
    FLT("train.lr", train.lr, 0, B_EX, 0, B_NONE, "peak learning rate"),
    FLT("train.lr_min", train.lr_min, 0, B_IN, 0, B_NONE, "learning-rate floor of the schedule"),
    INT_GE("train.warmup", train.warmup, 0, "linear warmup steps"),
    ENUM("train.schedule", train.schedule, SCHEDULE_CHOICES, "decay after warmup"),
    FLT("train.beta1", train.beta1, 0, B_IN, 1, B_EX, "AdamW beta1"),
    FLT("train.beta2", train.beta2, 0, B_IN, 1, B_EX, "AdamW beta2"),
    FLT("train.eps", train.eps, 0, B_EX, 0, B_NONE, "AdamW epsilon"),
    FLT("train.weight_decay", train.weight_decay, 0, B_IN, 0, B_NONE, "AdamW weight decay"),
    BOOL("train.decay_all", train.decay_all, "also decay norm gains, biases and embeddings"),
    FLT("train.clip", train.clip, 0, B_IN, 0, B_NONE, "global gradient-norm clip (0 = off)"),
    U64("train.seed", train.seed, "seed of the initialisation and batches"),
    INT_GE("train.eval_every", train.eval_every, 0, "validation every N steps (0 = never)"),
    INT_IN("train.eval_batches", train.eval_batches, 1, 100000, "batches per validation"),
    INT_IN("train.threads", train.threads, 0, 1024,
           "CPU threads (0 = one per core that other programs leave free, looked at each "
           "second, or one for a step under 0.15 GFLOP; more than the cores are capped to them)"),
    ENUM("train.device", train.device, DEVICE_CHOICES, "compute device"),
    ENUM("train.precision", train.precision, PRECISION_CHOICES, "matmul precision (CUDA)"),
    ENUM("train.attention", train.attention, ATTENTION_CHOICES,
         "attention: auto (the fused op where the backend has one and prefers it), fused, pieces"),
    INT_IN("train.attn_chunk", train.attn_chunk, 0, 65536,
           "query rows per block of the attention products (0 = the backend's choice)"),
    ENUM("train.cuda_graphs", train.cuda_graphs, GRAPHS_CHOICES,
         "replay each step as one CUDA graph: auto (where allowed: CUDA, no MoE), on, off"),
    INT_GE("train.ckpt_every", train.ckpt_every, 0, "checkpoint every N steps (0 = at the end)"),
    INT_GE("train.keep_ckpts", train.keep_ckpts, 0, "checkpoints kept (0 = all)"),
    INT_GE("train.log_every", train.log_every, 1, "progress line every N steps (no terminal)"),
    FLT("train.diverge_factor", train.diverge_factor, 0, B_IN, 0, B_NONE,
        "diverged when loss > factor x initial loss (0 = off) ..."),
    INT_GE("train.diverge_patience", train.diverge_patience, 0,
           "... for this many steps (0 = only NaN/Inf)"),

    {"data.source", T_SOURCE, OFF(data.source), SIZE(data.source), 0, 0, B_NONE, B_NONE, NULL,
     "markov | prose | text:PATH | tokens:PATH"},
    INT_IN("data.vocab", data.vocab, 2, 65536, "markov: number of symbols"),
    INT_IN("data.order", data.order, 1, 8, "markov: order of the chain"),
    FLT("data.alpha", data.alpha, 0, B_EX, 0, B_NONE, "markov: Dirichlet concentration"),
    U64("data.seed", data.seed, "markov: seed of the chain; prose: seed of the text"),
    FLT("data.val_fraction", data.val_fraction, 0, B_EX, 0.5, B_IN, "held-out fraction"),
};
/* clang-format on */
#define N_KEYS ((int)(sizeof nl_config_key_table / sizeof nl_config_key_table[0]))
const int nl_config_key_count = N_KEYS;

const key_spec *nl_config_find_key(const char *key)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(nl_config_key_table[i].key, key) == 0)
            return &nl_config_key_table[i];
    return NULL;
}

static nl_config_key_info key_infos[N_KEYS];
static pthread_once_t key_infos_once = PTHREAD_ONCE_INIT;

static void fill_key_infos(void)
{
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *s = &nl_config_key_table[i];
        const char *kind = "string";
        switch (s->type) {
        case T_INT:
        case T_U64:
            kind = "int";
            break;
        case T_FLOAT:
            kind = "float";
            break;
        case T_BOOL:
            kind = "bool";
            break;
        case T_ENUM:
        case T_TRI:
            kind = "enum";
            break;
        case T_NAME:
        case T_SOURCE:
            kind = "string";
            break;
        }
        key_infos[i] = (nl_config_key_info){s->key, kind, s->choices, s->help};
    }
}

const nl_config_key_info *nl_config_keys(int *count)
{
    pthread_once(&key_infos_once, fill_key_infos);
    if (count)
        *count = N_KEYS;
    return key_infos;
}

nl_path_class nl_config_path_class(const char *path)
{
    if (nl_config_find_key(path))
        return NL_PATH_KEY;
    if (strcmp(path, "model.custom.layers") == 0)
        return NL_PATH_OVERRIDES;
    if (strcmp(path, "runs") == 0)
        return NL_PATH_RUNS;
    if (strcmp(path, "lesson") == 0)
        return NL_PATH_LESSON;
    size_t n = strlen(path);
    if (n == 0)
        return NL_PATH_UNKNOWN;
    for (int i = 0; i < N_KEYS; i++)
        if (strncmp(nl_config_key_table[i].key, path, n) == 0 &&
            nl_config_key_table[i].key[n] == '.')
            return NL_PATH_SECTION;
    return NL_PATH_UNKNOWN;
}

/* ---- parsing values ---------------------------------------------------------------------- */

/* Copy s without leading and trailing white space into buf. */
static void trim_copy(const char *s, char *buf, size_t len)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

int nl_config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int nl_config_parse_number(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* The index of s among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *s)
{
    size_t n = strlen(s);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* Choice i of choices into buf. */
void nl_config_choice_at(const char *choices, int i, char *buf, size_t len)
{
    const char *p = choices;
    for (; i > 0 && p; i--) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p) {
        snprintf(buf, len, "?");
        return;
    }
    const char *bar = strchr(p, '|');
    int n = bar ? (int)(bar - p) : (int)strlen(p);
    snprintf(buf, len, "%.*s", n, p);
}

static void range_text(const key_spec *s, char *buf, size_t len)
{
    bool is_int = s->type == T_INT;
    if (s->lo_b != B_NONE && s->hi_b != B_NONE) {
        if (is_int)
            snprintf(buf, len, "in [%lld, %lld]", (long long)s->lo, (long long)s->hi);
        else
            snprintf(buf, len, "in %c%g, %g%c", s->lo_b == B_IN ? '[' : '(', s->lo, s->hi,
                     s->hi_b == B_IN ? ']' : ')');
    } else if (s->lo_b != B_NONE) {
        if (is_int)
            snprintf(buf, len, ">= %lld", (long long)s->lo);
        else
            snprintf(buf, len, "%s %g", s->lo_b == B_IN ? ">=" : ">", s->lo);
    } else {
        buf[0] = '\0';
    }
}

static void expected_text(const key_spec *s, char *buf, size_t len)
{
    char range[64];
    range_text(s, range, sizeof range);
    switch (s->type) {
    case T_INT:
        snprintf(buf, len, "an integer %s", range);
        break;
    case T_U64:
        snprintf(buf, len, "a non-negative integer");
        break;
    case T_FLOAT:
        snprintf(buf, len, "a number %s", range);
        break;
    case T_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case T_ENUM:
    case T_TRI:
        snprintf(buf, len, "one of %s", s->choices);
        break;
    case T_NAME:
        snprintf(buf, len, "a name of 1 to %d letters, digits or . _ - + = , (not starting with .)",
                 (int)s->size - 1);
        break;
    case T_SOURCE:
        snprintf(buf, len, "markov, prose, text:PATH or tokens:PATH (at most %d characters)",
                 (int)s->size - 1);
        break;
    }
}

void nl_config_expected(const char *key, char *buf, size_t len)
{
    const key_spec *s = nl_config_find_key(key);
    if (s)
        expected_text(s, buf, len);
    else if (len)
        buf[0] = '\0';
}

static bool in_range(const key_spec *s, double v)
{
    if (s->lo_b == B_IN && !(v >= s->lo))
        return false;
    if (s->lo_b == B_EX && !(v > s->lo))
        return false;
    if (s->hi_b == B_IN && !(v <= s->hi))
        return false;
    if (s->hi_b == B_EX && !(v < s->hi))
        return false;
    return true;
}

bool nl_config_valid_name(const char *v, size_t size)
{
    size_t n = strlen(v);
    if (n == 0 || n >= size || v[0] == '.')
        return false;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-+=,", *p))
            return false;
    return true;
}

bool nl_config_valid_source(const char *v, size_t size)
{
    if (strlen(v) >= size)
        return false;
    if (strcmp(v, "markov") == 0 || strcmp(v, "prose") == 0)
        return true;
    if (strncmp(v, "text:", 5) == 0)
        return v[5] != '\0';
    if (strncmp(v, "tokens:", 7) == 0)
        return v[7] != '\0';
    return false;
}

static int bad_value(const key_spec *s, const char *value, nl_error *err)
{
    char want[160];
    expected_text(s, want, sizeof want);
    if (!*value)
        return nl_fail(err, NL_ERR_USAGE, "%s: expected %s, got nothing", s->key, want);
    const char *hint = NULL;
    if (s->choices) {
        /* a hint: a choice close in spelling ("rmsnrom"), else the longest choice the value
         * begins with ("postnorm") */
        const char *names[16];
        char store[16][32];
        int n = 0;
        for (; n < 16; n++) {
            nl_config_choice_at(s->choices, n, store[n], sizeof store[n]);
            if (strcmp(store[n], "?") == 0)
                break;
            names[n] = store[n];
        }
        size_t best = 0;
        for (int i = 0; i < n; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(value, names[i], len) == 0 && len > best) {
                best = len;
                hint = names[i];
            }
        }
        const char *near = nl_config_suggest(value, names, n);
        if (near)
            hint = near;
        /* words people use for a choice spelled otherwise here */
        static const char *const alias[][2] = {{"gpu", "cuda"}, {"GPU", "cuda"}};
        for (size_t i = 0; i < sizeof alias / sizeof *alias; i++)
            if (!strcmp(value, alias[i][0]) && strstr(s->choices, alias[i][1]))
                hint = alias[i][1];
        if (hint)
            return nl_fail(err, NL_ERR_USAGE, "%s: expected %s, got '%.200s' (did you mean '%s'?)",
                           s->key, want, value, hint);
    }
    return nl_fail(err, NL_ERR_USAGE, "%s: expected %s, got '%.300s'", s->key, want, value);
}

static int set_u64(const key_spec *s, const char *value, uint64_t *field, nl_error *err)
{
    if (!*value || *value == '-' || isspace((unsigned char)*value))
        return bad_value(s, value, err);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (end == value || *end || errno == ERANGE)
        return bad_value(s, value, err);
    *field = (uint64_t)v;
    return 0;
}

static int set_float(const key_spec *s, const char *value, float *field, nl_error *err)
{
    double d;
    if (nl_config_parse_number(value, &d)) {
        /* a well-formed number too large for a double ("1e400") is out of range, not
         * "not a number" */
        char *end;
        double big = strtod(value, &end);
        if (*value && end != value && !*end && isinf(big) && !strpbrk(value, "iInN"))
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: '%.200s' is out of range (a float holds "
                           "at most about 3.4e38)",
                           s->key, value);
        return bad_value(s, value, err);
    }
    float f = (float)d;
    if (isinf(f))
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: '%.200s' is out of range (a float holds at most about 3.4e38)", s->key,
                       value);
    /* the range applies to the stored float: 0.99999999 rounds to 1 */
    if (!isfinite(f) || !in_range(s, (double)f))
        return bad_value(s, value, err);
    memcpy(field, &f, sizeof f);
    return 0;
}

/* A choice (T_ENUM) or a tri-state (T_TRI: auto -1, off 0, on 1) into the int at field. */
static int set_choice(const key_spec *s, const char *value, int *field, nl_error *err)
{
    bool b;
    if (s->type == T_ENUM) {
        int i = choice_index(s->choices, value);
        if (i < 0)
            return bad_value(s, value, err);
        *field = i;
    } else if (strcasecmp(value, "auto") == 0) {
        *field = -1;
    } else if (nl_config_parse_bool(value, &b) == 0) {
        *field = b ? 1 : 0;
    } else {
        return bad_value(s, value, err);
    }
    return 0;
}

static int set_value(nl_config *c, const key_spec *s, const char *value, nl_error *err)
{
    char *field = (char *)c + s->off;
    switch (s->type) {
    case T_INT: {
        long long v;
        if (parse_int(value, &v) || !in_range(s, (double)v) || v > INT_MAX || v < INT_MIN)
            return bad_value(s, value, err);
        *(int *)field = (int)v;
        return 0;
    }
    case T_U64:
        return set_u64(s, value, (uint64_t *)field, err);
    case T_FLOAT:
        return set_float(s, value, (float *)field, err);
    case T_BOOL: {
        bool b;
        if (nl_config_parse_bool(value, &b))
            return bad_value(s, value, err);
        *(bool *)field = b;
        return 0;
    }
    case T_ENUM:
    case T_TRI:
        return set_choice(s, value, (int *)field, err);
    case T_NAME:
    case T_SOURCE: {
        bool ok = s->type == T_NAME ? nl_config_valid_name(value, s->size)
                                    : nl_config_valid_source(value, s->size);
        if (!ok)
            return bad_value(s, value, err);
        memset(field, 0, s->size); /* whole-struct comparisons see no stale bytes */
        memcpy(field, value, strlen(value));
        return 0;
    }
    }
    return bad_value(s, value, err);
}

int nl_config_set(nl_config *c, const char *key, const char *value, nl_error *err)
{
    char k[128], v[1024];
    trim_copy(key ? key : "", k, sizeof k);
    if (!value)
        value = "";
    if (strlen(value) >= sizeof v)
        return nl_fail(err, NL_ERR_USAGE, "%s: value too long (%zu characters)", k, strlen(value));
    trim_copy(value, v, sizeof v);
    const key_spec *s = nl_config_find_key(k);
    if (!s) {
        nl_path_class pc = nl_config_path_class(k);
        if (pc == NL_PATH_OVERRIDES)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: per-layer overrides are given as a YAML list in a preset", k);
        if (pc == NL_PATH_RUNS)
            return nl_fail(err, NL_ERR_USAGE, "runs: a race is given as a YAML list in a preset");
        if (pc == NL_PATH_LESSON || strncmp(k, "lesson.", 7) == 0)
            return nl_fail(err, NL_ERR_USAGE, "%s: a lesson is given as a YAML map in a preset", k);
        if (pc == NL_PATH_SECTION) {
            const char *example = "";
            for (int i = 0; i < N_KEYS && !*example; i++)
                if (strncmp(nl_config_key_table[i].key, k, strlen(k)) == 0 &&
                    nl_config_key_table[i].key[strlen(k)] == '.')
                    example = nl_config_key_table[i].key;
            return nl_fail(err, NL_ERR_USAGE, "'%s' is a section, not a key (e.g. '%s')", k,
                           example);
        }
        char msg[512];
        nl_config_unknown_key(k, msg, sizeof msg);
        return nl_fail(err, NL_ERR_USAGE, "%s", msg);
    }
    return set_value(c, s, v, err);
}

int nl_config_set_kv(nl_config *c, const char *kv, nl_error *err)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv)
        return nl_fail(err, NL_ERR_USAGE, "expected KEY=VALUE (e.g. model.layers=8), got '%.300s'",
                       kv ? kv : "");
    char key[128];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof key)
        return nl_fail(err, NL_ERR_USAGE, "key too long in '%.300s'", kv);
    memcpy(key, kv, n);
    key[n] = '\0';
    return nl_config_set(c, key, eq + 1, err);
}
