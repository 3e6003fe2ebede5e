/* A run's configuration: defaults, keys, validation, YAML presets (libyaml).
 *
 * Every setting has a dotted key (`model.layers`, `train.lr`, `data.source`), which is what a
 * preset's nested YAML maps resolve to and what `--set k=v` names. nl_config_set() is the one
 * place a key is parsed and range-checked, so the YAML loader, --set, and the TUI's setup
 * form all give the same messages.
 *
 * YAML shape (see presets/default.yaml):
 *   name: default
 *   model: {placement: pre, norm: layernorm, layers: 4, d_model: 128, heads: 4, ...}
 *   model.custom: {attn: {pre: true, ...}, ffn: {...}, layers: [{layer: 0, attn: {...}}]}
 *   model.moe: {experts: 0, top_k: 2, aux_loss: 0.01, z_loss: 0.001, every: 1, renorm: true}
 *   train: {steps: 300, batch: 8, lr: 1e-3, warmup: 20, schedule: cosine, ...}
 *   data: {source: markov, order: 1, ...}
 *   runs: [{name: pre, set: {model.placement: pre}}, ...]     # a race
 *   lesson: {title: ..., question: ..., look: ..., expect: ..., why: ..., source: ..., next: ...}
 */
#ifndef NL_CONFIG_H
#define NL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define NL_MAX_LAYERS 256
#define NL_MAX_RACE 8
#define NL_MAX_OVERRIDES 64

typedef enum { NL_NORM_LAYERNORM = 0, NL_NORM_RMSNORM } nl_norm_kind;
typedef enum { NL_FFN_GELU = 0, NL_FFN_SWIGLU } nl_ffn_kind;
typedef enum { NL_POS_LEARNED = 0, NL_POS_ROPE } nl_pos_kind;
typedef enum { NL_INIT_NORMAL = 0, NL_INIT_MEGATRON, NL_INIT_DEEPNORM } nl_init_kind;
typedef enum { NL_SCHED_CONSTANT = 0, NL_SCHED_LINEAR, NL_SCHED_COSINE } nl_schedule;
/* Matmul precision (the order of kernels.h's nl_precision). */
typedef enum { NL_TRAIN_FP32 = 0, NL_TRAIN_TF32, NL_TRAIN_BF16 } nl_train_precision;
/* The compute device: auto = CUDA where a device answers, else the CPU. */
typedef enum { NL_DEVICE_AUTO = 0, NL_DEVICE_CPU, NL_DEVICE_CUDA } nl_device;
/* How attention runs: auto = the backend's fused op where it has one and the precision is
 * below fp32 (engine/model.c says why), else the matmul and softmax pieces; fused = the fused
 * op wherever the backend has one; pieces = never fused. */
typedef enum { NL_ATTN_AUTO = 0, NL_ATTN_FUSED, NL_ATTN_PIECES } nl_attention_mode;
/* Whether a training step is captured as a CUDA graph and replayed (engine/step.c): auto =
 * where the backend and the model allow it, on = required (an error where not), off = never. */
typedef enum { NL_GRAPHS_AUTO = 0, NL_GRAPHS_ON, NL_GRAPHS_OFF } nl_cuda_graphs;
typedef enum {
    NL_PLACE_POST = 0,
    NL_PLACE_PRE,
    NL_PLACE_SANDWICH,
    NL_PLACE_PREQK,
    NL_PLACE_HYBRID,
    NL_PLACE_HYBRID_STAR,
    NL_PLACE_MIXLN,
    NL_PLACE_DEEPNORM,
    NL_PLACE_CUSTOM,
    NL_PLACE_COUNT
} nl_placement;

/* The flags of one sublayer (DESIGN.md section 2). qk and v only mean something for attention. */
typedef struct nl_sublayer_flags {
    bool pre, peri, post, res_from_normed, qk, v;
    float alpha; /* residual scale; 0 (unset) means 1 */
} nl_sublayer_flags;

/* One per-layer override of a custom placement: layer `layer`'s attention and/or FFN flags. */
typedef struct nl_layer_override {
    int layer;
    bool has_attn, has_ffn;
    nl_sublayer_flags attn, ffn;
} nl_layer_override;

typedef struct nl_model_config {
    nl_placement placement;
    nl_norm_kind norm;
    nl_ffn_kind ffn;
    nl_pos_kind pos;
    nl_init_kind init;
    int vocab; /* 0 = from the data source (markov: data.vocab, text: 256, tokens: required) */
    int d_model;
    int layers;
    int heads;
    int seq_len;
    int ffn_hidden; /* 0 = default: 4d (gelu), multiple of 32 nearest 8d/3 (swiglu) */
    bool tied;      /* lm_head shares wte */
    float rope_theta;
    float norm_eps;
    int embed_norm; /* -1 = by placement (no for every named one), 0 no, 1 yes */
    int final_norm; /* -1 = by placement (the table in DESIGN.md), 0 no, 1 yes */
    /* custom placement: base flags and per-layer overrides */
    nl_sublayer_flags custom_attn, custom_ffn;
    int n_overrides;
    nl_layer_override overrides[NL_MAX_OVERRIDES];
    /* mixture of experts: experts == 0 means dense */
    int moe_experts, moe_top_k, moe_every;
    float moe_aux_loss, moe_z_loss;
    bool moe_renorm;
} nl_model_config;

typedef struct nl_train_config {
    int steps;
    int batch;
    float lr;
    float lr_min; /* floor of the schedule, absolute */
    int warmup;   /* linear warmup steps from 0 to lr */
    nl_schedule schedule;
    float beta1, beta2, eps;
    float weight_decay;
    bool decay_all; /* also decay norm gains, biases and embeddings */
    float clip;     /* global-norm clipping threshold; 0 = off */
    uint64_t seed;
    int eval_every;   /* validation loss every N steps (0 = never) */
    int eval_batches; /* batches of the held-out split per evaluation */
    int threads;      /* CPU threads; 0 = one per core (capped to the cores when opened) */
    nl_device device; /* auto | cpu | cuda */
    nl_train_precision precision; /* fp32 | tf32 | bf16 (CUDA) */
    nl_attention_mode attention;  /* auto | fused | pieces */
    int attn_chunk;       /* query rows per block of the attention products; 0 = the backend's */
    nl_cuda_graphs cuda_graphs; /* auto | on | off */
    int ckpt_every;       /* checkpoint every N steps (0 = only at the end / on stop) */
    int keep_ckpts;       /* keep the last N checkpoints */
    int log_every;        /* progress line every N steps when stderr is not a terminal */
    float diverge_factor; /* diverged when loss > factor * initial loss ... */
    int diverge_patience; /* ... for this many consecutive steps (NaN/Inf: at once) */
} nl_train_config;

typedef struct nl_data_config {
    char source[512];   /* "markov", "prose", "text:PATH" or "tokens:PATH" */
    int vocab;          /* markov: number of symbols */
    int order;          /* markov: order k */
    float alpha;        /* markov: Dirichlet concentration of the transition rows */
    uint64_t seed;      /* markov: seed of the chain; prose: of the text (not train.seed) */
    float val_fraction; /* text/tokens: the tail fraction held out; markov: own stream */
} nl_data_config;

/* One run of a race: a name and a list of key=value overrides applied on top of the base. */
typedef struct nl_race_entry {
    char name[64];
    int n_set;
    char set_key[32][64];
    char set_val[32][256];
} nl_race_entry;

/* A lesson (lessons/NAME.yaml, or any preset with a `lesson:` map): what a class is asked,
 * where to look, what it should see and why. Plain text (UTF-8, paragraphs split by '\n');
 * an empty name means the config has no lesson. A race entry inherits the lesson, and a run's
 * config.yaml records it, so `normlab watch` shows the same lesson. */
#define NL_LESSON_TEXT 1600
typedef struct nl_lesson {
    char name[64];                 /* the lesson's name; defaults to the preset's name */
    char title[128];               /* one line */
    char question[NL_LESSON_TEXT]; /* the question for the class */
    char look[NL_LESSON_TEXT];     /* which panel and which key */
    char expect[NL_LESSON_TEXT];   /* what they should see */
    char why[NL_LESSON_TEXT];      /* the mechanism, in a few sentences */
    char source[NL_LESSON_TEXT];   /* where the mechanism comes from (optional) */
    char next[NL_LESSON_TEXT];     /* what to try next (optional) */
} nl_lesson;

typedef struct nl_config {
    char name[64];
    nl_model_config model;
    nl_train_config train;
    nl_data_config data;
    int n_runs; /* race entries (0 = a single run) */
    nl_race_entry runs[NL_MAX_RACE];
    nl_lesson lesson;
} nl_config;

/* Fill every field with its default (the values of presets/default.yaml's omitted keys). */
void nl_config_defaults(nl_config *c);

/* Parse `value` for `key` and store it. Errors name the key and the expected form, e.g.
 * "model.layers: expected an integer in [1, 256], got 'abc'". Returns 0 or NL_ERR_USAGE. */
int nl_config_set(nl_config *c, const char *key, const char *value, nl_error *err);

/* Apply "k=v" (the --set form). */
int nl_config_set_kv(nl_config *c, const char *kv, nl_error *err);

/* Cross-field checks (d_model % heads, head_dim even for rope, vocab known, top_k <= experts,
 * ...). Call after every key is set. */
int nl_config_validate(const nl_config *c, nl_error *err);

/* Derived values. */
int nl_config_vocab(const nl_config *c);      /* model.vocab, or the data source's */
int nl_config_ffn_hidden(const nl_config *c); /* the resolved FFN hidden size */

/* Load a preset: start from defaults, apply the YAML, validate. Errors give
 * "FILE:LINE:COL: message". `name_for_errors` is used in messages for in-memory text. */
int nl_config_load_file(nl_config *c, const char *path, nl_error *err);
int nl_config_load_string(nl_config *c, const char *yaml, size_t len, const char *name_for_errors,
                          nl_error *err);

/* Write the resolved config as YAML (every key and the lesson, no race list); re-loadable as
 * a preset. Returns a malloc'ed NUL-terminated string the caller frees. */
char *nl_config_to_yaml(const nl_config *c);
int nl_config_save_file(const nl_config *c, const char *path, nl_error *err);

/* The config of race entry i: the base with entry i's overrides applied, validated. */
int nl_config_race_entry(const nl_config *base, int i, nl_config *out, nl_error *err);

/* Names <-> enums, for the UI and messages. */
const char *nl_placement_name(nl_placement p);
const char *nl_placement_summary(nl_placement p); /* one line, for the setup form */
int nl_placement_from_name(const char *s);        /* -1 when unknown */
const char *nl_norm_name(nl_norm_kind k);
const char *nl_ffn_name(nl_ffn_kind k);
const char *nl_pos_name(nl_pos_kind k);
const char *nl_init_name(nl_init_kind k);
const char *nl_schedule_name(nl_schedule s);
const char *nl_precision_name(nl_train_precision p);
const char *nl_device_name(nl_device d);
const char *nl_attention_name(nl_attention_mode a);
const char *nl_cuda_graphs_name(nl_cuda_graphs g);

/* The list of settable keys, in a stable order (for --help, the setup form and docs). */
typedef struct nl_config_key_info {
    const char *key;
    const char *kind;    /* "int", "float", "bool", "enum", "string" */
    const char *choices; /* for enums: "post|pre|..."; NULL otherwise */
    const char *help;    /* one line */
} nl_config_key_info;
const nl_config_key_info *nl_config_keys(int *count);
/* The current value of `key` as text (buf), for the setup form. Returns 0 or NL_ERR_USAGE. */
int nl_config_get(const nl_config *c, const char *key, char *buf, int buflen, nl_error *err);
/* The keys whose values differ from a to b, as "key A -> B, ..." into buf (cut with " ..."
 * where it does not fit), leaving out those for which skip(key) is true (skip NULL: none);
 * model.vocab 0 (the data's) and the vocabulary it resolves to count as the same. Returns how
 * many keys differ. */
int nl_config_diff(const nl_config *a, const nl_config *b, bool (*skip)(const char *key), char *buf,
                   size_t len);

/* The embedded default preset (presets/default.yaml compiled in). */
extern const char nl_default_preset_yaml[];
extern const unsigned nl_default_preset_yaml_len;

#endif
