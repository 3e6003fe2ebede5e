/* Configuration: defaults, --set parsing and ranges, validation, the to_yaml round trip and
 * saving. (YAML presets, shipped and broken, and race entries: test_config_yaml.c.) Run from
 * the repository root (or from build/tests, which finds it). */
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/config.h"

/* Failure messages quote whole error messages into t.h's fixed buffer; cutting them short is
 * fine, and t_skip is not needed here. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/config_t.h"
#include "tests/t.h"

/* ---- defaults and derived values --------------------------------------------------------- */

static void test_defaults_validate(void)
{
    nl_config *c = new_config();
    nl_error e = {0};
    T_CHECK(nl_config_validate(c, &e) == 0, "defaults do not validate: %s", e.msg);
    T_CHECK(c->model.placement == NL_PLACE_PRE, "placement %d", c->model.placement);
    T_CHECK(c->model.d_model == 128 && c->model.layers == 4 && c->model.heads == 4,
            "shape %d/%d/%d", c->model.d_model, c->model.layers, c->model.heads);
    T_CHECK(c->model.seq_len == 64 && c->model.vocab == 0 && c->model.ffn_hidden == 0, "sizes");
    T_CHECK(c->model.embed_norm == -1 && c->model.final_norm == -1, "auto norms");
    T_NEAR(c->model.rope_theta, 10000, 0, "rope_theta");
    T_NEAR(c->model.norm_eps, 1e-5f, 0, "norm_eps");
    T_CHECK(c->model.moe_experts == 0 && c->model.moe_top_k == 2 && c->model.moe_every == 1 &&
                c->model.moe_renorm,
            "moe");
    T_NEAR(c->model.moe_aux_loss, 0.01f, 0, "aux_loss");
    T_NEAR(c->model.moe_z_loss, 0.001f, 0, "z_loss");
    T_CHECK(c->train.steps == 300 && c->train.batch == 8 && c->train.warmup == 20, "train ints");
    T_NEAR(c->train.lr, 1e-3f, 0, "lr");
    T_NEAR(c->train.beta2, 0.95f, 0, "beta2");
    T_NEAR(c->train.weight_decay, 0.1f, 0, "weight_decay");
    T_CHECK(c->train.schedule == NL_SCHED_COSINE, "schedule");
    T_CHECK(c->train.device == NL_DEVICE_AUTO && c->train.precision == NL_TRAIN_FP32 &&
                c->train.attention == NL_ATTN_AUTO && c->train.attn_chunk == 0,
            "device");
    T_CHECK(c->train.eval_every == 50 && c->train.keep_ckpts == 3 && c->train.log_every == 10 &&
                c->train.diverge_patience == 20,
            "train misc");
    T_NEAR(c->train.diverge_factor, 3.0f, 0, "diverge_factor");
    T_CHECK(!strcmp(c->data.source, "markov") && c->data.vocab == 64 && c->data.order == 1, "data");
    T_NEAR(c->data.val_fraction, 0.1f, 0, "val_fraction");
    T_CHECK(nl_config_vocab(c) == 64, "vocab from markov: %d", nl_config_vocab(c));
    free(c);
}

static void test_derived_values(void)
{
    nl_config *c = new_config();
    T_CHECK(nl_config_ffn_hidden(c) == 512, "gelu 4d: %d", nl_config_ffn_hidden(c));
    c->model.ffn = NL_FFN_SWIGLU;
    /* the multiple of 32 nearest 8d/3: 341.3 -> 352; 170.7 -> 160; 2048 exactly */
    T_CHECK(nl_config_ffn_hidden(c) == 352, "swiglu d=128: %d", nl_config_ffn_hidden(c));
    c->model.d_model = 64;
    T_CHECK(nl_config_ffn_hidden(c) == 160, "swiglu d=64: %d", nl_config_ffn_hidden(c));
    c->model.d_model = 768;
    T_CHECK(nl_config_ffn_hidden(c) == 2048, "swiglu d=768: %d", nl_config_ffn_hidden(c));
    c->model.ffn_hidden = 100;
    T_CHECK(nl_config_ffn_hidden(c) == 100, "explicit: %d", nl_config_ffn_hidden(c));

    nl_error e = {0};
    T_CHECK(nl_config_set(c, "data.source", "text:/tmp/x.txt", &e) == 0, "%s", e.msg);
    T_CHECK(nl_config_vocab(c) == 256, "text vocab %d", nl_config_vocab(c));
    T_CHECK(nl_config_set(c, "data.source", "tokens:/tmp/x.bin", &e) == 0, "%s", e.msg);
    T_CHECK(nl_config_vocab(c) == 0, "tokens vocab unknown until the file is read");
    T_CHECK(nl_config_validate(c, &e) == 0, "tokens with vocab 0 is allowed: %s", e.msg);
    c->model.vocab = 50257;
    T_CHECK(nl_config_vocab(c) == 50257, "explicit vocab %d", nl_config_vocab(c));
    free(c);
}

/* ---- the key table ----------------------------------------------------------------------- */

/* Token i of a '|'-separated list. */
static int choice_token(const char *choices, int i, char *buf, size_t len)
{
    const char *p = choices;
    while (i-- > 0) {
        p = strchr(p, '|');
        if (!p)
            return -1;
        p++;
    }
    size_t n = strcspn(p, "|");
    if (n >= len)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

static void test_keys_table(void)
{
    int n = 0;
    const nl_config_key_info *keys = nl_config_keys(&n);
    T_CHECK(n >= 60, "only %d keys", n);
    nl_config *c = new_config(), *d = new_config();
    nl_error e = {0};
    for (int i = 0; i < n; i++) {
        const nl_config_key_info *k = &keys[i];
        T_CHECK(k->key && k->help && *k->help, "key %d has no help", i);
        bool known = !strcmp(k->kind, "int") || !strcmp(k->kind, "float") ||
                     !strcmp(k->kind, "bool") || !strcmp(k->kind, "enum") ||
                     !strcmp(k->kind, "string");
        T_CHECK(known, "%s: kind '%s'", k->key, k->kind);
        T_CHECK(!strcmp(k->kind, "enum") == (k->choices != NULL), "%s: choices", k->key);
        for (int j = 0; j < i; j++)
            T_CHECK(strcmp(keys[j].key, k->key) != 0, "%s twice", k->key);
        /* setting a key to the text get gives changes nothing */
        char v[600];
        T_CHECK(nl_config_get(c, k->key, v, sizeof v, &e) == 0, "get %s: %s", k->key, e.msg);
        T_CHECK(nl_config_set(d, k->key, v, &e) == 0, "set %s=%s: %s", k->key, v, e.msg);
        /* every choice of an enum sets and reads back */
        char tok[64];
        for (int t = 0; k->choices && choice_token(k->choices, t, tok, sizeof tok) == 0; t++) {
            nl_config *x = new_config();
            T_CHECK(nl_config_set(x, k->key, tok, &e) == 0, "%s=%s: %s", k->key, tok, e.msg);
            nl_config_get(x, k->key, v, sizeof v, &e);
            T_CHECK(!strcmp(v, tok), "%s=%s reads back '%s'", k->key, tok, v);
            free(x);
        }
    }
    T_CHECK(config_equal(c, d), "set(get(k)) changed %s", first_difference(c, d));

    /* the name tables agree with the choices the keys accept */
    char tok[64];
    for (int p = 0; p < NL_PLACE_COUNT; p++) {
        T_CHECK(choice_token(keys[1].choices, p, tok, sizeof tok) == 0 &&
                    !strcmp(tok, nl_placement_name((nl_placement)p)),
                "placement %d: %s vs %s", p, tok, nl_placement_name((nl_placement)p));
        T_CHECK(nl_placement_from_name(nl_placement_name((nl_placement)p)) == p, "from_name %d", p);
        const char *s = nl_placement_summary((nl_placement)p);
        T_CHECK(s && strlen(s) > 10 && strcmp(s, "?"), "summary %d", p);
    }
    T_CHECK(!strcmp(keys[1].key, "model.placement"), "key 1 is %s", keys[1].key);
    T_CHECK(nl_placement_from_name("postnorm") == -1, "unknown placement");
    T_CHECK(!strcmp(nl_placement_name(NL_PLACE_COUNT), "?"), "out of range name");
    T_CHECK(!strcmp(nl_norm_name(NL_NORM_RMSNORM), "rmsnorm"), "norm name");
    T_CHECK(!strcmp(nl_ffn_name(NL_FFN_SWIGLU), "swiglu"), "ffn name");
    T_CHECK(!strcmp(nl_pos_name(NL_POS_ROPE), "rope"), "pos name");
    T_CHECK(!strcmp(nl_init_name(NL_INIT_MEGATRON), "megatron"), "init name");
    T_CHECK(!strcmp(nl_schedule_name(NL_SCHED_LINEAR), "linear"), "schedule name");
    free(c);
    free(d);
}

/* ---- --set ------------------------------------------------------------------------------- */

static void expect_set_error(const char *kv, const char *want)
{
    nl_config *c = new_config(), *before = new_config();
    nl_error e = {0};
    int rc = nl_config_set_kv(c, kv, &e);
    T_CHECK(rc == NL_ERR_USAGE && e.code == NL_ERR_USAGE, "'%s' was accepted (rc %d)", kv, rc);
    T_CHECK(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'", kv, e.msg, want);
    T_CHECK(config_equal(c, before), "a failed '%s' changed the config", kv);
    free(c);
    free(before);
}

/* Values that --set accepts, and what they set. */
static void set_accepts(void)
{
    nl_config *c = new_config();
    nl_error e = {0};
    T_CHECK(nl_config_set_kv(c, "model.layers=24", &e) == 0 && c->model.layers == 24, "%s", e.msg);
    T_CHECK(nl_config_set_kv(c, " model.heads = 8 ", &e) == 0 && c->model.heads == 8, "%s", e.msg);
    T_CHECK(nl_config_set_kv(c, "train.lr=3e-3", &e) == 0, "%s", e.msg);
    T_NEAR(c->train.lr, 3e-3f, 0, "lr");
    T_CHECK(nl_config_set_kv(c, "train.seed=18446744073709551615", &e) == 0 &&
                c->train.seed == UINT64_MAX,
            "max seed: %s", e.msg);
    T_CHECK(nl_config_set_kv(c, "model.tied=yes", &e) == 0 && c->model.tied, "yes");
    T_CHECK(nl_config_set_kv(c, "model.tied=OFF", &e) == 0 && !c->model.tied, "OFF");
    T_CHECK(nl_config_set_kv(c, "model.final_norm=true", &e) == 0 && c->model.final_norm == 1,
            "final_norm true");
    T_CHECK(nl_config_set_kv(c, "model.final_norm=false", &e) == 0 && c->model.final_norm == 0,
            "final_norm false");
    T_CHECK(nl_config_set_kv(c, "model.final_norm=auto", &e) == 0 && c->model.final_norm == -1,
            "final_norm auto");
    T_CHECK(nl_config_set_kv(c, "model.placement=hybrid_star", &e) == 0 &&
                c->model.placement == NL_PLACE_HYBRID_STAR,
            "placement");
    T_CHECK(nl_config_set_kv(c, "train.device=cuda", &e) == 0 && c->train.device == NL_DEVICE_CUDA,
            "device");
    T_CHECK(nl_config_set_kv(c, "data.source=text:/tmp/a=b.txt", &e) == 0 &&
                !strcmp(c->data.source, "text:/tmp/a=b.txt"),
            "value with '=': %s", c->data.source);
    T_CHECK(nl_config_set_kv(c, "train.beta2=0", &e) == 0 && c->train.beta2 == 0.0f, "beta 0");
    T_CHECK(nl_config_set_kv(c, "data.val_fraction=0.5", &e) == 0, "val_fraction 0.5");
    T_CHECK(nl_config_set_kv(c, "name=pre-vs-post_2", &e) == 0 && !strcmp(c->name, "pre-vs-post_2"),
            "name");
    free(c);
}

/* Values that --set refuses, each with its message. */
static void set_refuses(void)
{
    expect_set_error("model.layers=abc",
                     "model.layers: expected an integer in [1, 256], got 'abc'");
    expect_set_error("model.layers=0", "model.layers: expected an integer in [1, 256], got '0'");
    expect_set_error("model.layers=257",
                     "model.layers: expected an integer in [1, 256], got '257'");
    expect_set_error("model.layers=4.5", "got '4.5'");
    expect_set_error("model.layers=99999999999999999999", "model.layers: expected an integer");
    expect_set_error("model.layers=", "model.layers: expected an integer in [1, 256], got nothing");
    expect_set_error("model.nope=1", "unknown key 'model.nope'");
    expect_set_error("model.layerz=8", "unknown key 'model.layerz' (did you mean 'model.layers'?)");
    expect_set_error("train.d_model=8", "(did you mean 'model.d_model'?)");
    expect_set_error("modle.layers=8", "(did you mean 'model.layers'?)");
    expect_set_error("model.layers", "expected KEY=VALUE");
    expect_set_error("=3", "expected KEY=VALUE");
    expect_set_error("model=3", "'model' is a section, not a key (e.g. 'model.placement')");
    expect_set_error("train=3", "(e.g. 'train.steps')");
    expect_set_error("model.custom.layers=3", "YAML list");
    expect_set_error("model.d_model=4", "model.d_model: expected an integer in [8, 8192], got '4'");
    expect_set_error("model.heads=0", "model.heads: expected an integer >= 1, got '0'");
    expect_set_error("model.seq_len=1", "in [2, 65536]");
    expect_set_error("train.lr=0", "train.lr: expected a number > 0, got '0'");
    expect_set_error("train.lr=nan", "train.lr: expected a number > 0, got 'nan'");
    expect_set_error("train.lr=1e400", "train.lr: '1e400' is out of range");
    expect_set_error("train.lr=1e-50", "got '1e-50'"); /* 0 as a float */
    expect_set_error("train.beta1=1", "train.beta1: expected a number in [0, 1), got '1'");
    expect_set_error("train.beta2=0.999999999", "in [0, 1)"); /* rounds to 1 as a float */
    expect_set_error("train.beta2=-0.1", "in [0, 1)");
    expect_set_error("train.clip=-1", "train.clip: expected a number >= 0");
    expect_set_error("data.val_fraction=0", "data.val_fraction: expected a number in (0, 0.5]");
    expect_set_error("data.val_fraction=0.6", "in (0, 0.5]");
    expect_set_error("train.seed=-1", "train.seed: expected a non-negative integer, got '-1'");
    expect_set_error("train.seed=18446744073709551616", "train.seed: expected a non-negative");
    expect_set_error("model.tied=maybe", "model.tied: expected true or false, got 'maybe'");
    expect_set_error("model.embed_norm=sometimes", "expected one of auto|true|false");
    expect_set_error("model.placement=postnorm", "(did you mean 'post'?)");
    expect_set_error("model.norm=rmsnrom", "(did you mean 'rmsnorm'?)");
    expect_set_error("train.device=gpu", "train.device: expected one of auto|cpu|cuda, got 'gpu'");
    expect_set_error("train.precision=fp16", "one of fp32|tf32|bf16");
    expect_set_error("train.attention=always", "one of auto|fused|pieces");
    expect_set_error("train.cuda_graphs=yes", "one of auto|on|off");
    expect_set_error("train.attn_chunk=-1", "train.attn_chunk");
    expect_set_error("data.source=text:",
                     "data.source: expected markov, prose, text:PATH or tokens:PATH");
    expect_set_error("data.source=file.txt", "got 'file.txt'");
    expect_set_error("name=a/b", "name: expected a name");
    expect_set_error("name=.hidden", "name: expected a name");
    expect_set_error("name=", "got nothing");
    expect_set_error("name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                     "name:");
    expect_set_error("model.moe.top_k=0", "model.moe.top_k: expected an integer in [1, 64]");
}

static void test_set_overrides(void)
{
    set_accepts();
    set_refuses();
}

/* An absurd thread count is refused by the config (the same bound on every machine), and a
 * count above this machine's cores is capped to them with a notice that says so. */
static void test_threads_bound(void)
{
    expect_set_error("train.threads=4096",
                     "train.threads: expected an integer in [0, 1024], got '4096'");
    expect_set_error("train.threads=-1", "train.threads: expected an integer in [0, 1024]");
    nl_config *c = new_config();
    nl_error e = {0};
    static const char yaml[] = "train:\n  threads: 4096\n";
    T_CHECK(nl_config_load_string(c, yaml, sizeof yaml - 1, "big.yaml", &e) != 0 &&
                strstr(e.msg, "big.yaml:2:") && strstr(e.msg, "train.threads") &&
                strstr(e.msg, "[0, 1024]"),
            "a YAML threads: 4096 gave '%s'", e.msg);
    T_CHECK(nl_config_set_kv(c, "train.threads=1024", &e) == 0 && c->train.threads == 1024,
            "1024 refused: %s", e.msg);
    free(c);

    int cores = nl_backend_cores();
    T_CHECK(cores >= 1, "cores %d", cores);
    char notice[160] = "untouched", want[64];
    T_CHECK(nl_backend_threads(0, notice, sizeof notice) == cores, "auto is not one per core");
    T_CHECK(!strcmp(notice, "untouched"), "auto wrote a notice: %s", notice);
    T_CHECK(nl_backend_threads(1, notice, sizeof notice) == 1, "1 thread changed");
    T_CHECK(nl_backend_threads(cores, notice, sizeof notice) == cores, "the core count changed");
    T_CHECK(!strcmp(notice, "untouched"), "a count within the cores wrote a notice: %s", notice);
    T_CHECK(nl_backend_threads(1024, notice, sizeof notice) == cores, "1024 not capped to %d",
            cores);
    snprintf(want, sizeof want, "1024 threads are more than the %d core", cores);
    T_CHECK(strstr(notice, want) && strstr(notice, "using"), "notice '%s'", notice);
    T_CHECK(nl_backend_threads(cores + 1, NULL, 0) == cores, "cores + 1 not capped");
}

static void test_get(void)
{
    nl_config *c = new_config();
    nl_error e = {0};
    char buf[64];
    nl_config_set(c, "train.lr", "0.003", &e);
    T_CHECK(nl_config_get(c, "train.lr", buf, sizeof buf, &e) == 0 && !strcmp(buf, "0.003"),
            "lr reads '%s'", buf);
    T_CHECK(nl_config_get(c, "model.layers", buf, sizeof buf, &e) == 0 && !strcmp(buf, "4"),
            "layers reads '%s'", buf);
    T_CHECK(nl_config_get(c, "model.embed_norm", buf, sizeof buf, &e) == 0 && !strcmp(buf, "auto"),
            "embed_norm reads '%s'", buf);
    T_CHECK(nl_config_get(c, "model.norm_eps", buf, sizeof buf, &e) == 0 &&
                (float)strtod(buf, NULL) == 1e-5f,
            "norm_eps reads '%s'", buf);
    T_CHECK(nl_config_get(c, "model.nope", buf, sizeof buf, &e) == NL_ERR_USAGE &&
                strstr(e.msg, "unknown key 'model.nope'"),
            "unknown get: %s", e.msg);
    char tiny[4];
    T_CHECK(nl_config_get(c, "data.source", tiny, sizeof tiny, &e) == 0 && !strcmp(tiny, "mar"),
            "truncated get '%s'", tiny);
    free(c);
}

static bool skip_threads(const char *key)
{
    return strcmp(key, "train.threads") == 0;
}

/* nl_config_diff: the keys that differ, in the keys table's order, old -> new; the skipped
 * ones left out; model.vocab 0 and the vocabulary it resolves to the same; a cut list ends in
 * " ..." and still counts every change */
static void test_diff(void)
{
    nl_config *a = new_config(), *b = new_config();
    nl_error e = {0};
    char buf[256];
    T_CHECK(nl_config_diff(a, b, NULL, buf, sizeof buf) == 0 && buf[0] == '\0', "equal: '%s'", buf);
    nl_config_set(b, "train.steps", "700", &e);
    nl_config_set(b, "model.layers", "6", &e);
    nl_config_set(b, "train.threads", "2", &e);
    int n = nl_config_diff(a, b, skip_threads, buf, sizeof buf);
    char want[128];
    snprintf(want, sizeof want, "model.layers 4 -> 6, train.steps %d -> 700", a->train.steps);
    T_CHECK(n == 2 && !strcmp(buf, want), "%d: '%s' (want '%s')", n, buf, want);
    T_CHECK(nl_config_diff(a, b, NULL, buf, sizeof buf) == 3 && strstr(buf, "train.threads"),
            "without skip: '%s'", buf);
    nl_config_set(a, "model.vocab", "0", &e);
    snprintf(want, sizeof want, "%d", nl_config_vocab(a));
    nl_config_set(b, "model.vocab", want, &e);
    T_CHECK(nl_config_diff(a, b, skip_threads, buf, sizeof buf) == 2 && !strstr(buf, "vocab"),
            "resolved vocabulary named: '%s'", buf);
    nl_config_set(b, "model.vocab", "300", &e);
    T_CHECK(nl_config_diff(a, b, skip_threads, buf, sizeof buf) == 3 &&
                strstr(buf, "model.vocab 0 -> 300"),
            "another vocabulary: '%s'", buf);
    char small[24];
    n = nl_config_diff(a, b, skip_threads, small, sizeof small);
    size_t len = strlen(small);
    T_CHECK(n == 3 && len == sizeof small - 1 && !strcmp(small + len - 4, " ..."),
            "cut list %d: '%s'", n, small);
    free(a);
    free(b);
}

/* ---- validation -------------------------------------------------------------------------- */

static void expect_invalid(const char *const *kvs, const char *want)
{
    nl_config *c = new_config();
    nl_error e = {0};
    for (int i = 0; kvs[i]; i++)
        T_CHECK(nl_config_set_kv(c, kvs[i], &e) == 0, "setting %s: %s", kvs[i], e.msg);
    int rc = nl_config_validate(c, &e);
    T_CHECK(rc == NL_ERR_USAGE, "%s...: validated", kvs[0]);
    T_CHECK(strstr(e.msg, want) != NULL, "%s...: message '%s' lacks '%s'", kvs[0], e.msg, want);
    free(c);
}

static void test_validate(void)
{
    expect_invalid((const char *const[]){"model.d_model=100", "model.heads=3", NULL},
                   "model.d_model (100) must be divisible by model.heads (3)");
    expect_invalid((const char *const[]){"model.heads=200", NULL}, "divisible");
    expect_invalid(
        (const char *const[]){"model.pos=rope", "model.d_model=96", "model.heads=32", NULL},
        "rope needs an even head dimension");
    expect_invalid((const char *const[]){"model.moe.experts=2", "model.moe.top_k=4", NULL},
                   "model.moe.top_k (4) must be <= model.moe.experts (2)");
    expect_invalid((const char *const[]){"data.source=text:/x", "model.vocab=100", NULL},
                   "model.vocab (100) is smaller than the 256 byte values");
    expect_invalid((const char *const[]){"data.vocab=64", "model.vocab=32", NULL},
                   "smaller than the markov source's data.vocab (64)");
    expect_invalid((const char *const[]){"data.order=8", NULL}, "data.order: a markov chain");
    expect_invalid((const char *const[]){"train.lr=1e-3", "train.lr_min=1e-2", NULL},
                   "train.lr_min (0.01) must be <= train.lr (0.001)");
    expect_invalid((const char *const[]){"model.moe.experts=4", "train.cuda_graphs=on", NULL},
                   "train.cuda_graphs: on is not possible with MoE");

    nl_config *c = new_config();
    nl_error e = {0};
    nl_config_set(c, "model.pos", "rope", &e);
    T_CHECK(nl_config_validate(c, &e) == 0, "rope with head_dim 32: %s", e.msg);
    nl_config_set(c, "model.moe.experts", "4", &e);
    nl_config_set(c, "model.moe.top_k", "4", &e);
    T_CHECK(nl_config_validate(c, &e) == 0, "top_k == experts: %s", e.msg);
    nl_config_set(c, "model.moe.experts", "0", &e);
    T_CHECK(nl_config_validate(c, &e) == 0, "top_k unused when dense: %s", e.msg);

    c->model.placement = NL_PLACE_CUSTOM;
    c->model.n_overrides = 2;
    c->model.overrides[0] = (nl_layer_override){.layer = 3, .has_attn = true};
    c->model.overrides[1] = (nl_layer_override){.layer = 4, .has_ffn = true};
    T_CHECK(nl_config_validate(c, &e) == NL_ERR_USAGE &&
                strstr(e.msg, "an override for layer 4, but model.layers is 4"),
            "override past the last layer: %s", e.msg);
    c->model.overrides[1].layer = 3;
    T_CHECK(nl_config_validate(c, &e) == NL_ERR_USAGE && strstr(e.msg, "layer 3 has two overrides"),
            "two overrides of one layer: %s", e.msg);
    c->model.overrides[1].layer = 0;
    T_CHECK(nl_config_validate(c, &e) == 0, "overrides 3 and 0: %s", e.msg);
    free(c);
}

/* ---- to_yaml round trip ------------------------------------------------------------------ */

static void check_round_trip(const nl_config *c, const char *what)
{
    nl_config *want = malloc(sizeof *want), *got = new_config();
    memcpy(want, c, sizeof *want);
    want->n_runs = 0; /* to_yaml writes no race list */
    memset(want->runs, 0, sizeof want->runs);
    char *y1 = nl_config_to_yaml(c);
    T_CHECK(y1 != NULL, "%s: to_yaml failed", what);
    if (!y1)
        goto out;
    nl_error e = {0};
    T_CHECK(nl_config_load_string(got, y1, strlen(y1), what, &e) == 0, "%s: reload: %s", what,
            e.msg);
    T_CHECK(config_equal(want, got), "%s: round trip changed %s", what,
            first_difference(want, got));
    char *y2 = nl_config_to_yaml(got);
    T_CHECK(y2 && !strcmp(y1, y2), "%s: second to_yaml differs", what);
    /* every key is written */
    int n;
    const nl_config_key_info *keys = nl_config_keys(&n);
    for (int i = 0; i < n; i++) {
        const char *leaf = strrchr(keys[i].key, '.');
        char pat[80];
        snprintf(pat, sizeof pat, "%s: ", leaf ? leaf + 1 : keys[i].key);
        T_CHECK(strstr(y1, pat) != NULL, "%s: %s not written", what, keys[i].key);
    }
    free(y2);
    free(y1);
out:
    free(want);
    free(got);
}

/* values away from every default, awkward strings and floats */
static const char *const crafted_kvs[] = {
    "name=x,y=1+z",
    "model.placement=custom",
    "model.norm=rmsnorm",
    "model.ffn=swiglu",
    "model.pos=rope",
    "model.init=megatron",
    "model.vocab=300",
    "model.d_model=96",
    "model.layers=7",
    "model.heads=6",
    "model.seq_len=33",
    "model.ffn_hidden=250",
    "model.tied=true",
    "model.rope_theta=500000",
    "model.norm_eps=3e-6",
    "model.embed_norm=true",
    "model.final_norm=false",
    "model.custom.attn.pre=false",
    "model.custom.attn.peri=true",
    "model.custom.attn.post=true",
    "model.custom.attn.res_from_normed=true",
    "model.custom.attn.qk=true",
    "model.custom.attn.v=true",
    "model.custom.attn.alpha=1.7320508",
    "model.custom.ffn.pre=false",
    "model.custom.ffn.peri=true",
    "model.custom.ffn.post=true",
    "model.custom.ffn.res_from_normed=true",
    "model.custom.ffn.alpha=0.1",
    "model.moe.experts=8",
    "model.moe.top_k=3",
    "model.moe.every=2",
    "model.moe.aux_loss=0.02",
    "model.moe.z_loss=0",
    "model.moe.renorm=false",
    "train.steps=1234",
    "train.batch=3",
    "train.lr=0.1",
    "train.lr_min=1e-7",
    "train.warmup=0",
    "train.schedule=linear",
    "train.beta1=0.8",
    "train.beta2=0.999",
    "train.eps=1e-7",
    "train.weight_decay=0",
    "train.decay_all=true",
    "train.clip=0.3",
    "train.seed=18446744073709551615",
    "train.eval_every=0",
    "train.eval_batches=2",
    "train.threads=3",
    "train.device=cpu",
    "train.precision=bf16",
    "train.attention=pieces",
    "train.attn_chunk=32",
    "train.cuda_graphs=off",
    "train.ckpt_every=100",
    "train.keep_ckpts=1",
    "train.log_every=1",
    "train.diverge_factor=1.5",
    "train.diverge_patience=1",
    "data.source=text:/tmp/odd name: #1 \"q\" \\ x.txt",
    "data.vocab=17",
    "data.order=2",
    "data.alpha=0.333333343",
    "data.seed=0",
    "data.val_fraction=0.05",
    NULL,
};

/* c set to crafted_kvs and two layer overrides: valid, and no key left at its default. */
static void crafted_config(nl_config *c)
{
    nl_config_defaults(c);
    nl_error e = {0};
    for (int i = 0; crafted_kvs[i]; i++)
        T_CHECK(nl_config_set_kv(c, crafted_kvs[i], &e) == 0, "%s: %s", crafted_kvs[i], e.msg);
    c->model.n_overrides = 2;
    c->model.overrides[0] = (nl_layer_override){
        .layer = 6, .has_attn = true, .attn = {.pre = true, .qk = true, .v = true, .alpha = 2.5f}};
    c->model.overrides[1] = (nl_layer_override){
        .layer = 0, .has_ffn = true, .ffn = {.peri = true, .res_from_normed = true}};
    T_CHECK(nl_config_validate(c, &e) == 0, "crafted config: %s", e.msg);
    nl_config *d = new_config();
    int n;
    const nl_config_key_info *keys = nl_config_keys(&n);
    for (int i = 0; i < n; i++) {
        char a[600], b[600];
        nl_config_get(c, keys[i].key, a, sizeof a, NULL);
        nl_config_get(d, keys[i].key, b, sizeof b, NULL);
        T_CHECK(strcmp(a, b) != 0, "crafted config leaves %s at its default", keys[i].key);
    }
    free(d);
}

static void test_round_trip(void)
{
    glob_t g;
    T_CHECK(glob("presets/*.yaml", 0, NULL, &g) == 0, "no presets");
    nl_config *c = new_config();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        nl_error e = {0};
        if (nl_config_load_file(c, g.gl_pathv[i], &e) == 0)
            check_round_trip(c, g.gl_pathv[i]);
    }
    globfree(&g);
    crafted_config(c);
    check_round_trip(c, "crafted");
    free(c);
}

static void test_save_file(void)
{
    char dir[] = "/tmp/normlab-test-config-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    char path[256];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    nl_config *a = new_config(), *b = new_config();
    nl_error e = {0};
    nl_config_set(a, "model.layers", "12", &e);
    nl_config_set(a, "name", "saved", &e);
    T_CHECK(nl_config_save_file(a, path, &e) == 0, "%s", e.msg);
    T_CHECK(nl_config_load_file(b, path, &e) == 0, "%s", e.msg);
    T_CHECK(config_equal(a, b), "saved vs loaded: %s", first_difference(a, b));
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/config.yaml", dir);
    T_CHECK(nl_config_save_file(a, bad, &e) == NL_ERR_IO && strstr(e.msg, bad), "bad path: %s",
            e.msg);
    unlink(path);
    rmdir(dir);
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    (void)argc;
    go_to_root(argv[0]);
    T_RUN(test_defaults_validate);
    T_RUN(test_derived_values);
    T_RUN(test_keys_table);
    T_RUN(test_set_overrides);
    T_RUN(test_threads_bound);
    T_RUN(test_get);
    T_RUN(test_diff);
    T_RUN(test_validate);
    T_RUN(test_round_trip);
    T_RUN(test_save_file);
    T_END();
}
