/* The configuration: one table of keys drives defaults' checks, --set, get, and to_yaml, so
 * every path that sets a value parses and range-checks it the same way. */
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
#define TRI_CHOICES "auto|true|false"

static const char *const placement_names[NL_PLACE_COUNT] = {
    "post", "pre", "sandwich", "preqk", "hybrid", "hybrid_star", "mixln", "deepnorm", "custom",
};
static const char *const placement_summaries[NL_PLACE_COUNT] = {
    "Post-Norm (Vaswani): norm after every residual add; fragile when deep",
    "Pre-Norm: norm on every sublayer input, plus a final norm; the stable default",
    "Sandwich (Peri-LN): norm on every sublayer input and output",
    "Pre-Norm with QK-Norm: queries and keys also normalised per head",
    "HybridNorm: QKV-norm in attention, Post-Norm-style FFN residual",
    "HybridNorm*: HybridNorm with block 0 as Pre-Norm",
    "Mix-LN: Post-Norm in the first quarter of the layers, Pre-Norm in the rest",
    "DeepNorm (DeepNet): Post-Norm with the residual scaled by (2L)^(1/4)",
    "Custom: your own flags per sublayer, with per-layer overrides",
};
static const char *const norm_names[] = {"layernorm", "rmsnorm"};
static const char *const ffn_names[] = {"gelu", "swiglu"};
static const char *const pos_names[] = {"learned", "rope"};
static const char *const init_names[] = {"normal", "megatron", "deepnorm"};
static const char *const schedule_names[] = {"constant", "linear", "cosine"};
static const char *const precision_names[] = {"fp32", "tf32", "bf16"};
static const char *const attention_names[] = {"auto", "fused", "pieces"};

#define NAME_OF(table, i)                                                                          \
    ((int)(i) >= 0 && (int)(i) < (int)(sizeof table / sizeof table[0]) ? table[(int)(i)] : "?")

const char *nl_placement_name(nl_placement p)
{
    return NAME_OF(placement_names, p);
}
const char *nl_placement_summary(nl_placement p)
{
    return NAME_OF(placement_summaries, p);
}
const char *nl_norm_name(nl_norm_kind k)
{
    return NAME_OF(norm_names, k);
}
const char *nl_ffn_name(nl_ffn_kind k)
{
    return NAME_OF(ffn_names, k);
}
const char *nl_pos_name(nl_pos_kind k)
{
    return NAME_OF(pos_names, k);
}
const char *nl_init_name(nl_init_kind k)
{
    return NAME_OF(init_names, k);
}
const char *nl_schedule_name(nl_schedule s)
{
    return NAME_OF(schedule_names, s);
}
const char *nl_precision_name(nl_train_precision p)
{
    return NAME_OF(precision_names, p);
}
const char *nl_attention_name(nl_attention_mode a)
{
    return NAME_OF(attention_names, a);
}

int nl_placement_from_name(const char *s)
{
    for (int i = 0; s && i < NL_PLACE_COUNT; i++)
        if (strcmp(s, placement_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the key table ----------------------------------------------------------------------- */

typedef enum {
    T_INT,    /* int */
    T_U64,    /* uint64_t, any non-negative integer */
    T_FLOAT,  /* float, finite, in a range */
    T_BOOL,   /* bool */
    T_ENUM,   /* an enum stored as int; value = index in choices */
    T_CHOICE, /* a char array holding one of choices */
    T_TRI,    /* int: auto = -1, true = 1, false = 0 */
    T_NAME,   /* char array: a run name (also a directory name) */
    T_SOURCE, /* char array: markov | prose | text:PATH | tokens:PATH */
} key_type;

enum { B_NONE = 0, B_IN, B_EX }; /* a range bound: absent, inclusive, exclusive */

typedef struct key_spec {
    const char *key;
    key_type type;
    size_t off;  /* offsetof(nl_config, ...) */
    size_t size; /* char arrays: their size */
    double lo, hi;
    unsigned char lo_b, hi_b;
    const char *choices;
    const char *help;
} key_spec;

/* clang-format off */
#define OFF(f) offsetof(nl_config, f)
#define SIZE(f) sizeof(((nl_config *)0)->f)
#define INT_IN(k, f, a, b, h) {k, T_INT, OFF(f), 0, a, b, B_IN, B_IN, NULL, h}
#define INT_GE(k, f, a, h) {k, T_INT, OFF(f), 0, a, 0, B_IN, B_NONE, NULL, h}
#define U64(k, f, h) {k, T_U64, OFF(f), 0, 0, 0, B_NONE, B_NONE, NULL, h}
#define FLT(k, f, a, ab, b, bb, h) {k, T_FLOAT, OFF(f), 0, a, b, ab, bb, NULL, h}
#define BOOL(k, f, h) {k, T_BOOL, OFF(f), 0, 0, 0, B_NONE, B_NONE, NULL, h}
#define ENUM(k, f, ch, h) {k, T_ENUM, OFF(f), 0, 0, 0, B_NONE, B_NONE, ch, h}
#define CHOICE(k, f, ch, h) {k, T_CHOICE, OFF(f), SIZE(f), 0, 0, B_NONE, B_NONE, ch, h}
#define TRI(k, f, h) {k, T_TRI, OFF(f), 0, 0, 0, B_NONE, B_NONE, TRI_CHOICES, h}

/* Keys under one section stay together: to_yaml nests them in this order. */
static const key_spec KEYS[] = {
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
           "CPU threads (0 = one per core; more than the cores are capped to them)"),
    CHOICE("train.device", train.device, DEVICE_CHOICES, "compute device"),
    ENUM("train.precision", train.precision, PRECISION_CHOICES, "matmul precision (CUDA)"),
    ENUM("train.attention", train.attention, ATTENTION_CHOICES,
         "attention: auto (fused op below fp32 where the backend has one), fused, pieces"),
    INT_IN("train.attn_chunk", train.attn_chunk, 0, 65536,
           "query rows per block of the attention products (0 = the backend's choice)"),
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
#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* Paths that are not scalar keys but are valid YAML keys. */
static const char *const LIST_PATHS[] = {"model.custom.layers", "runs", "lesson"};

static const key_spec *find_key(const char *key)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0)
            return &KEYS[i];
    return NULL;
}

static nl_config_key_info key_infos[N_KEYS];
static pthread_once_t key_infos_once = PTHREAD_ONCE_INIT;

static void fill_key_infos(void)
{
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *s = &KEYS[i];
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
        case T_CHOICE:
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
    if (find_key(path))
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
        if (strncmp(KEYS[i].key, path, n) == 0 && KEYS[i].key[n] == '.')
            return NL_PATH_SECTION;
    return NL_PATH_UNKNOWN;
}

/* ---- suggestions ------------------------------------------------------------------------- */

/* Edit distance with adjacent transpositions (optimal string alignment), three rows. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXN = 128 };
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n >= MAXN || m >= MAXN)
        return INT_MAX / 2;
    int rows[3][MAXN];
    int *pp = rows[0], *p = rows[1], *cur = rows[2]; /* rows i-2, i-1, i */
    for (int j = 0; j <= m; j++)
        p[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = p[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        int *t = pp;
        pp = p;
        p = cur;
        cur = t;
    }
    return p[m];
}

const char *nl_config_suggest(const char *word, const char *const *candidates, int n)
{
    int len = (int)strlen(word);
    int limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best;
}

/* Every valid path and every section, each once, into out (a fixed pool). */
enum { MAX_PATHS = 160, PATH_LEN = 64 };
typedef struct path_pool {
    int n;
    char path[MAX_PATHS][PATH_LEN];
} path_pool;

static void pool_add(path_pool *p, const char *s, size_t len)
{
    if (len >= PATH_LEN || p->n >= MAX_PATHS)
        return;
    for (int i = 0; i < p->n; i++)
        if (strlen(p->path[i]) == len && strncmp(p->path[i], s, len) == 0)
            return;
    memcpy(p->path[p->n], s, len);
    p->path[p->n][len] = '\0';
    p->n++;
}

static void pool_add_with_sections(path_pool *p, const char *s)
{
    for (const char *dot = strchr(s, '.'); dot; dot = strchr(dot + 1, '.'))
        pool_add(p, s, (size_t)(dot - s));
    pool_add(p, s, strlen(s));
}

static void all_paths(path_pool *p)
{
    p->n = 0;
    for (int i = 0; i < N_KEYS; i++)
        pool_add_with_sections(p, KEYS[i].key);
    for (size_t i = 0; i < sizeof LIST_PATHS / sizeof LIST_PATHS[0]; i++)
        pool_add_with_sections(p, LIST_PATHS[i]);
}

/* A known path close to `path`: a near name in the same section, a near full path, or the
 * same last name in another section ("train.d_model" -> "model.d_model"). */
static const char *suggest_path(const char *path, path_pool *pool)
{
    all_paths(pool);
    const char *dot = strrchr(path, '.');
    size_t sec_len = dot ? (size_t)(dot - path) : 0;
    const char *last = dot ? dot + 1 : path;
    char section[PATH_LEN];
    if (sec_len >= sizeof section)
        return NULL;
    memcpy(section, path, sec_len);
    section[sec_len] = '\0';

    const char *cands[MAX_PATHS];
    int n = 0;
    if (sec_len == 0 || nl_config_path_class(section) == NL_PATH_SECTION) {
        /* children of the section, compared by their last name */
        const char *lasts[MAX_PATHS];
        for (int i = 0; i < pool->n; i++) {
            const char *q = pool->path[i];
            const char *qdot = strrchr(q, '.');
            size_t qsec = qdot ? (size_t)(qdot - q) : 0;
            if (qsec == sec_len && strncmp(q, path, sec_len) == 0) {
                cands[n] = q;
                lasts[n++] = qdot ? qdot + 1 : q;
            }
        }
        const char *best = nl_config_suggest(last, lasts, n);
        for (int i = 0; best && i < n; i++)
            if (lasts[i] == best)
                return cands[i];
    } else {
        for (int i = 0; i < pool->n; i++)
            cands[n++] = pool->path[i];
        const char *best = nl_config_suggest(path, cands, n);
        if (best)
            return best;
    }
    for (int i = 0; i < N_KEYS; i++) {
        const char *kdot = strrchr(KEYS[i].key, '.');
        if (kdot && strcmp(kdot + 1, last) == 0)
            return KEYS[i].key;
    }
    return NULL;
}

void nl_config_unknown_key(const char *path, char *buf, size_t len)
{
    path_pool *pool = malloc(sizeof *pool);
    const char *s = pool ? suggest_path(path, pool) : NULL;
    if (s)
        snprintf(buf, len, "unknown key '%s' (did you mean '%s'?)", path, s);
    else
        snprintf(buf, len, "unknown key '%s'", path);
    free(pool);
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
static void choice_at(const char *choices, int i, char *buf, size_t len)
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
    case T_CHOICE:
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
    const key_spec *s = find_key(key);
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

static bool valid_name(const char *v, size_t size)
{
    size_t n = strlen(v);
    if (n == 0 || n >= size || v[0] == '.')
        return false;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-+=,", *p))
            return false;
    return true;
}

static bool valid_source(const char *v, size_t size)
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
            choice_at(s->choices, n, store[n], sizeof store[n]);
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
    case T_U64: {
        if (!*value || *value == '-' || isspace((unsigned char)*value))
            return bad_value(s, value, err);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno == ERANGE)
            return bad_value(s, value, err);
        *(uint64_t *)field = (uint64_t)v;
        return 0;
    }
    case T_FLOAT: {
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
                           "%s: '%.200s' is out of range (a float holds at most about 3.4e38)",
                           s->key, value);
        /* the range applies to the stored float: 0.99999999 rounds to 1 */
        if (!isfinite(f) || !in_range(s, (double)f))
            return bad_value(s, value, err);
        memcpy(field, &f, sizeof f);
        return 0;
    }
    case T_BOOL: {
        bool b;
        if (nl_config_parse_bool(value, &b))
            return bad_value(s, value, err);
        *(bool *)field = b;
        return 0;
    }
    case T_ENUM: {
        int i = choice_index(s->choices, value);
        if (i < 0)
            return bad_value(s, value, err);
        *(int *)field = i;
        return 0;
    }
    case T_CHOICE: {
        if (choice_index(s->choices, value) < 0)
            return bad_value(s, value, err);
        memset(field, 0, s->size);
        snprintf(field, s->size, "%s", value);
        return 0;
    }
    case T_TRI: {
        bool b;
        if (strcasecmp(value, "auto") == 0)
            *(int *)field = -1;
        else if (nl_config_parse_bool(value, &b) == 0)
            *(int *)field = b ? 1 : 0;
        else
            return bad_value(s, value, err);
        return 0;
    }
    case T_NAME:
    case T_SOURCE: {
        bool ok = s->type == T_NAME ? valid_name(value, s->size) : valid_source(value, s->size);
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
    const key_spec *s = find_key(k);
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
                if (strncmp(KEYS[i].key, k, strlen(k)) == 0 && KEYS[i].key[strlen(k)] == '.')
                    example = KEYS[i].key;
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

/* ---- getting values ---------------------------------------------------------------------- */

/* The shortest %g form (6 to 9 digits) that reads back as the same float. */
static void format_float(float v, char *buf, size_t len)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, len, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v)
            return;
    }
}

static void get_value(const nl_config *c, const key_spec *s, char *buf, size_t len)
{
    const char *field = (const char *)c + s->off;
    switch (s->type) {
    case T_INT:
        snprintf(buf, len, "%d", *(const int *)field);
        break;
    case T_U64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case T_FLOAT: {
        float f;
        memcpy(&f, field, sizeof f);
        format_float(f, buf, len);
        break;
    }
    case T_BOOL:
        snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
        break;
    case T_ENUM:
        choice_at(s->choices, *(const int *)field, buf, len);
        break;
    case T_TRI: {
        int v = *(const int *)field;
        snprintf(buf, len, "%s", v < 0 ? "auto" : v ? "true" : "false");
        break;
    }
    case T_CHOICE:
    case T_NAME:
    case T_SOURCE:
        snprintf(buf, len, "%.*s", (int)s->size, field);
        break;
    }
}

int nl_config_get(const nl_config *c, const char *key, char *buf, int buflen, nl_error *err)
{
    const key_spec *s = key ? find_key(key) : NULL;
    if (!s) {
        char msg[512];
        nl_config_unknown_key(key ? key : "", msg, sizeof msg);
        return nl_fail(err, NL_ERR_USAGE, "%s", msg);
    }
    if (buflen <= 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: no room for the value", key);
    get_value(c, s, buf, (size_t)buflen);
    return 0;
}

/* ---- defaults and derived values --------------------------------------------------------- */

void nl_config_defaults(nl_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->name, "default");

    nl_model_config *m = &c->model;
    m->placement = NL_PLACE_PRE;
    m->norm = NL_NORM_LAYERNORM;
    m->ffn = NL_FFN_GELU;
    m->pos = NL_POS_LEARNED;
    m->init = NL_INIT_NORMAL;
    m->vocab = 0;
    m->d_model = 128;
    m->layers = 4;
    m->heads = 4;
    m->seq_len = 64;
    m->ffn_hidden = 0;
    m->tied = false;
    m->rope_theta = 10000.0f;
    m->norm_eps = 1e-5f;
    m->embed_norm = -1;
    m->final_norm = -1;
    /* custom starts as Pre-Norm, so switching to custom changes nothing until a flag does */
    m->custom_attn.pre = true;
    m->custom_attn.alpha = 1.0f;
    m->custom_ffn.pre = true;
    m->custom_ffn.alpha = 1.0f;
    m->moe_experts = 0;
    m->moe_top_k = 2;
    m->moe_every = 1;
    m->moe_aux_loss = 0.01f;
    m->moe_z_loss = 0.001f;
    m->moe_renorm = true;

    nl_train_config *t = &c->train;
    t->steps = 300;
    t->batch = 8;
    t->lr = 1e-3f;
    t->lr_min = 0.0f;
    t->warmup = 20;
    t->schedule = NL_SCHED_COSINE;
    t->beta1 = 0.9f;
    t->beta2 = 0.95f;
    t->eps = 1e-8f;
    t->weight_decay = 0.1f;
    t->decay_all = false;
    t->clip = 1.0f;
    t->seed = 1;
    t->eval_every = 50;
    t->eval_batches = 4;
    t->threads = 0;
    strcpy(t->device, "auto");
    t->precision = NL_TRAIN_FP32;
    t->attention = NL_ATTN_AUTO;
    t->attn_chunk = 0;
    t->ckpt_every = 0;
    t->keep_ckpts = 3;
    t->log_every = 10;
    t->diverge_factor = 3.0f;
    t->diverge_patience = 20;

    nl_data_config *d = &c->data;
    strcpy(d->source, "markov");
    d->vocab = 64;
    d->order = 1;
    d->alpha = 0.1f;
    d->seed = 1;
    d->val_fraction = 0.1f;
}

int nl_config_vocab(const nl_config *c)
{
    if (c->model.vocab > 0)
        return c->model.vocab;
    if (strncmp(c->data.source, "text:", 5) == 0 || strcmp(c->data.source, "prose") == 0)
        return 256;
    if (strncmp(c->data.source, "tokens:", 7) == 0)
        return 0; /* the token file decides */
    return c->data.vocab;
}

int nl_config_ffn_hidden(const nl_config *c)
{
    if (c->model.ffn_hidden > 0)
        return c->model.ffn_hidden;
    int d = c->model.d_model;
    if (c->model.ffn == NL_FFN_SWIGLU) {
        /* the multiple of 32 nearest 8d/3: round(8d / 96) * 32 = round(d / 12) * 32 */
        int k = (d + 6) / 12;
        return (k < 1 ? 1 : k) * 32;
    }
    return 4 * d;
}

/* ---- validation -------------------------------------------------------------------------- */

static int fault(nl_config_fault *f, const char *k0, const char *k1, int override_index)
{
    if (f) {
        f->keys[0] = k0;
        f->keys[1] = k1;
        f->override_index = override_index;
    }
    return NL_ERR_USAGE;
}

int nl_config_check(const nl_config *c, nl_error *err, nl_config_fault *f)
{
    const nl_model_config *m = &c->model;
    fault(f, NULL, NULL, -1);

    if (!valid_name(c->name, sizeof c->name)) {
        nl_fail(err, NL_ERR_USAGE, "name: expected a name of letters, digits or . _ - + = ,");
        return fault(f, "name", NULL, -1);
    }
    if (m->heads < 1 || m->d_model % m->heads != 0) {
        nl_fail(err, NL_ERR_USAGE, "model.d_model (%d) must be divisible by model.heads (%d)",
                m->d_model, m->heads);
        return fault(f, "model.heads", "model.d_model", -1);
    }
    int head_dim = m->d_model / m->heads;
    if (m->pos == NL_POS_ROPE && head_dim % 2 != 0) {
        nl_fail(err, NL_ERR_USAGE,
                "model.pos: rope needs an even head dimension, but d_model/heads = %d/%d = %d",
                m->d_model, m->heads, head_dim);
        return fault(f, "model.pos", "model.heads", -1);
    }
    const char *src = c->data.source;
    if (!valid_source(src, sizeof c->data.source)) {
        nl_fail(err, NL_ERR_USAGE,
                "data.source: expected markov, prose, text:PATH or tokens:PATH, got '%s'", src);
        return fault(f, "data.source", NULL, -1);
    }
    if (strcmp(src, "markov") == 0) {
        if (m->vocab > 0 && m->vocab < c->data.vocab) {
            nl_fail(err, NL_ERR_USAGE,
                    "model.vocab (%d) is smaller than the markov source's data.vocab (%d)",
                    m->vocab, c->data.vocab);
            return fault(f, "model.vocab", "data.vocab", -1);
        }
        /* the transition table holds vocab^(order+1) probabilities */
        double entries = pow((double)c->data.vocab, (double)c->data.order + 1.0);
        if (entries > (double)(1 << 28)) {
            nl_fail(err, NL_ERR_USAGE,
                    "data.order: a markov chain of order %d over %d symbols needs %.3g table "
                    "entries (at most %d)",
                    c->data.order, c->data.vocab, entries, 1 << 28);
            return fault(f, "data.order", "data.vocab", -1);
        }
    } else if ((strncmp(src, "text:", 5) == 0 || strcmp(src, "prose") == 0) && m->vocab > 0 &&
               m->vocab < 256) {
        nl_fail(err, NL_ERR_USAGE,
                "model.vocab (%d) is smaller than the 256 byte values of a %s source", m->vocab,
                src[0] == 'p' ? "prose" : "text:");
        return fault(f, "model.vocab", "data.source", -1);
    }
    if (m->moe_experts > 0 && m->moe_top_k > m->moe_experts) {
        nl_fail(err, NL_ERR_USAGE, "model.moe.top_k (%d) must be <= model.moe.experts (%d)",
                m->moe_top_k, m->moe_experts);
        return fault(f, "model.moe.top_k", "model.moe.experts", -1);
    }
    if (m->n_overrides < 0 || m->n_overrides > NL_MAX_OVERRIDES) {
        nl_fail(err, NL_ERR_USAGE, "model.custom.layers: at most %d overrides", NL_MAX_OVERRIDES);
        return fault(f, NULL, NULL, -1);
    }
    for (int i = 0; i < m->n_overrides; i++) {
        const nl_layer_override *o = &m->overrides[i];
        if (o->layer < 0 || o->layer >= m->layers) {
            nl_fail(err, NL_ERR_USAGE,
                    "model.custom.layers: an override for layer %d, but model.layers is %d "
                    "(layers are 0..%d)",
                    o->layer, m->layers, m->layers - 1);
            return fault(f, NULL, NULL, i);
        }
        for (int j = 0; j < i; j++) {
            if (m->overrides[j].layer == o->layer) {
                nl_fail(err, NL_ERR_USAGE, "model.custom.layers: layer %d has two overrides",
                        o->layer);
                return fault(f, NULL, NULL, i);
            }
        }
        const nl_sublayer_flags *fl[2] = {&o->attn, &o->ffn};
        for (int k = 0; k < 2; k++) {
            if (!(fl[k]->alpha >= 0.0f && fl[k]->alpha <= 1000.0f)) {
                nl_fail(err, NL_ERR_USAGE,
                        "model.custom.layers: layer %d: alpha must be in [0, 1000] (0 = keep)",
                        o->layer);
                return fault(f, NULL, NULL, i);
            }
        }
    }
    if (c->train.lr_min > c->train.lr) {
        nl_fail(err, NL_ERR_USAGE, "train.lr_min (%g) must be <= train.lr (%g)",
                (double)c->train.lr_min, (double)c->train.lr);
        return fault(f, "train.lr_min", "train.lr", -1);
    }
    if (c->n_runs < 0 || c->n_runs > NL_MAX_RACE) {
        nl_fail(err, NL_ERR_USAGE, "runs: at most %d runs in a race", NL_MAX_RACE);
        return fault(f, NULL, NULL, -1);
    }
    return 0;
}

int nl_config_validate(const nl_config *c, nl_error *err)
{
    return nl_config_check(c, err, NULL);
}

/* ---- races ------------------------------------------------------------------------------- */

int nl_config_apply_race_sets(const nl_config *base, int i, nl_config *out, int *bad_set,
                              nl_error *err)
{
    if (bad_set)
        *bad_set = -1;
    if (i < 0 || i >= base->n_runs)
        return nl_fail(err, NL_ERR_USAGE, "race entry %d does not exist (the race has %d)", i,
                       base->n_runs);
    const nl_race_entry *e = &base->runs[i];
    if (out != base)
        memcpy(out, base, sizeof *out);
    /* out may alias base, so keep the entry's text before the race list is cleared */
    nl_race_entry entry = *e;
    out->n_runs = 0;
    memset(out->runs, 0, sizeof out->runs);
    for (int j = 0; j < entry.n_set && j < 32; j++) {
        nl_error e2 = {0};
        if (nl_config_set(out, entry.set_key[j], entry.set_val[j], &e2)) {
            if (bad_set)
                *bad_set = j;
            return nl_fail(err, NL_ERR_USAGE, "runs[%d] '%s': %s", i, entry.name, e2.msg);
        }
    }
    nl_error e3 = {0};
    if (nl_config_set(out, "name", entry.name, &e3))
        return nl_fail(err, NL_ERR_USAGE, "runs[%d]: %s", i, e3.msg);
    return 0;
}

int nl_config_race_entry(const nl_config *base, int i, nl_config *out, nl_error *err)
{
    int rc = nl_config_apply_race_sets(base, i, out, NULL, err);
    if (rc)
        return rc;
    nl_error e = {0};
    if (nl_config_check(out, &e, NULL))
        return nl_fail(err, NL_ERR_USAGE, "runs[%d] '%s': %s", i, out->name, e.msg);
    return 0;
}

/* ---- writing YAML ------------------------------------------------------------------------ */

/* A string as a plain scalar when it cannot be read as anything else, else double-quoted. */
static void sb_string(nl_jbuf *b, const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on",
                                        "off",  "null",  "y",   "n"};
    bool plain = isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_';
    for (const char *p = s; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || strchr("_./:+-=,@", *p);
    for (size_t i = 0; plain && i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            plain = false;
    if (plain) {
        nl_jbuf_printf(b, "%s", s);
        return;
    }
    nl_jbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            nl_jbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            nl_jbuf_printf(b, "\\x%02x", *p);
        else
            nl_jbuf_printf(b, "%c", *p);
    }
    nl_jbuf_printf(b, "\"");
}

static void sb_flags(nl_jbuf *b, const nl_sublayer_flags *f, bool attn)
{
    char a[32];
    format_float(f->alpha, a, sizeof a);
    nl_jbuf_printf(b, "{pre: %s, peri: %s, post: %s, res_from_normed: %s",
                   f->pre ? "true" : "false", f->peri ? "true" : "false",
                   f->post ? "true" : "false", f->res_from_normed ? "true" : "false");
    if (attn)
        nl_jbuf_printf(b, ", qk: %s, v: %s", f->qk ? "true" : "false", f->v ? "true" : "false");
    nl_jbuf_printf(b, ", alpha: %s}", a);
}

static void sb_overrides(nl_jbuf *b, const nl_model_config *m, int indent)
{
    if (m->n_overrides <= 0) {
        nl_jbuf_printf(b, "%*slayers: []\n", indent, "");
        return;
    }
    nl_jbuf_printf(b, "%*slayers:\n", indent, "");
    for (int i = 0; i < m->n_overrides && i < NL_MAX_OVERRIDES; i++) {
        const nl_layer_override *o = &m->overrides[i];
        nl_jbuf_printf(b, "%*s  - layer: %d\n", indent, "", o->layer);
        if (o->has_attn) {
            nl_jbuf_printf(b, "%*s    attn: ", indent, "");
            sb_flags(b, &o->attn, true);
            nl_jbuf_printf(b, "\n");
        }
        if (o->has_ffn) {
            nl_jbuf_printf(b, "%*s    ffn: ", indent, "");
            sb_flags(b, &o->ffn, false);
            nl_jbuf_printf(b, "\n");
        }
    }
}

/* The dotted key's sections: "model.custom.attn.pre" -> [model, custom, attn]. */
static int split_sections(const char *key, char sec[4][32])
{
    int n = 0;
    const char *p = key;
    for (const char *dot = strchr(p, '.'); dot && n < 4; dot = strchr(p, '.')) {
        snprintf(sec[n++], 32, "%.*s", (int)(dot - p), p);
        p = dot + 1;
    }
    return n;
}

static bool is_custom_key(const char *key)
{
    return strncmp(key, "model.custom.", 13) == 0;
}

char *nl_config_to_yaml(const nl_config *c)
{
    nl_jbuf b = {0};
    char prev[4][32] = {{0}};
    int n_prev = 0;
    for (int i = 0; i < N_KEYS; i++) {
        const key_spec *s = &KEYS[i];
        if (i > 0 && is_custom_key(KEYS[i - 1].key) && !is_custom_key(s->key))
            sb_overrides(&b, &c->model, 4);
        char sec[4][32];
        int n = split_sections(s->key, sec);
        int same = 0;
        while (same < n && same < n_prev && strcmp(sec[same], prev[same]) == 0)
            same++;
        for (int d = same; d < n; d++)
            nl_jbuf_printf(&b, "%*s%s:\n", 2 * d, "", sec[d]);
        memcpy(prev, sec, sizeof prev);
        n_prev = n;

        const char *leaf = strrchr(s->key, '.');
        leaf = leaf ? leaf + 1 : s->key;
        char v[600];
        get_value(c, s, v, sizeof v);
        nl_jbuf_printf(&b, "%*s%s: ", 2 * n, "", leaf);
        if (s->type == T_NAME || s->type == T_SOURCE)
            sb_string(&b, v);
        else
            nl_jbuf_printf(&b, "%s", v);
        nl_jbuf_printf(&b, "\n");
    }
    nl_lesson_to_yaml(&b, &c->lesson);
    return nl_jbuf_take(&b);
}

int nl_config_save_file(const nl_config *c, const char *path, nl_error *err)
{
    char *text = nl_config_to_yaml(c);
    if (!text)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory writing the config", path);
    int rc = nl_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
