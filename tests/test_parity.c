/* Parity with the PyTorch reference (tests/ref/reference.py): for every fixture in
 * tests/fixtures/NAME.safetensors, build the model its "config" describes on the CPU backend, load
 * the fixture's parameters, and compare the LM loss, logits, MoE aux/z losses, every parameter
 * gradient, and the total loss over five clip+AdamW steps on the same batch.
 *
 *   build/tests/test_parity [SUBSTRING...]   only fixtures whose name contains a SUBSTRING
 *   NORMLAB_FIXTURES=DIR                     read fixtures from DIR instead of tests/fixtures
 *
 * One PASS/FAIL line per fixture ("parity/<name>"); the worst errors of each fixture go to
 * stderr. The reference is float64, the model float32, hence relative tolerances of 1e-4.
 */
#include <dirent.h>
#include <stdint.h>

#include "engine/config.h"
#include "engine/model.h"
#include "engine/optim.h"
#include "engine/run.h"
#include "engine/safetensors.h"
#include "kernels/kernels.h"
#include "t.h"

#define TOL 1e-4
#define ADAM_STEPS 5
#define MAX_FIXTURES 256

static double rel_err(double got, double want)
{
    return fabs(got - want) / fmax(fabs(want), 1e-12);
}

/* max|a - b| / max(max|b|, floor) over n floats */
static double max_rel_err(const float *a, const float *b, int64_t n, double floor)
{
    double diff = 0.0, ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > diff || isnan(d))
            diff = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > ref)
            ref = fabs((double)b[i]);
    }
    return diff / fmax(ref, floor);
}

/* The fixture tensor `name`, checked to be of dtype and numel; NULL (and a recorded failure)
 * otherwise. */
static const nl_st_tensor *want_tensor(const nl_st_file *f, const char *name, nl_st_dtype dtype,
                                       int64_t numel)
{
    const nl_st_tensor *t = nl_st_find(f, name);
    T_CHECK(t != NULL, "fixture has no tensor '%s'", name);
    if (!t)
        return NULL;
    T_CHECK(t->dtype == dtype, "fixture tensor '%s' has the wrong dtype", name);
    T_CHECK(numel < 0 || t->numel == numel, "fixture tensor '%s' has %lld elements, expected %lld",
            name, (long long)t->numel, (long long)numel);
    if (t->dtype != dtype || (numel >= 0 && t->numel != numel))
        return NULL;
    return t;
}

/* The model's tensor table and the fixture's param.* tensors name the same set with the same
 * shapes; fills host (num_params floats) from the fixture. Returns 0 when they match. */
static int load_params(nl_model *m, const nl_st_file *f, float *host)
{
    int bad = 0, n_fixture = 0;
    for (int i = 0; i < f->n_tensors; i++)
        if (strncmp(f->tensors[i].name, "param.", 6) == 0) {
            n_fixture++;
            if (!nl_model_find_tensor(m, f->tensors[i].name + 6)) {
                T_CHECK(0, "the model has no tensor '%s' (the fixture has)",
                        f->tensors[i].name + 6);
                bad = 1;
            }
        }
    int n_model = nl_model_num_tensors(m);
    T_CHECK(n_model == n_fixture, "the model has %d tensors, the fixture %d", n_model, n_fixture);
    if (n_model != n_fixture)
        bad = 1;
    for (int i = 0; i < n_model; i++) {
        const nl_tensor *mt = nl_model_tensor(m, i);
        char key[200];
        snprintf(key, sizeof key, "param.%s", mt->name);
        const nl_st_tensor *ft = nl_st_find(f, key);
        T_CHECK(ft != NULL, "the fixture has no '%s' (the model has)", key);
        if (!ft) {
            bad = 1;
            continue;
        }
        int same = ft->dtype == NL_ST_F32 && ft->ndim == mt->ndim && ft->numel == mt->numel;
        for (int d = 0; same && d < mt->ndim; d++)
            same = ft->shape[d] == mt->shape[d];
        T_CHECK(same, "'%s': model shape [%d%s%d] (numel %lld) differs from the fixture's",
                mt->name, mt->shape[0], mt->ndim > 1 ? "," : "", mt->ndim > 1 ? mt->shape[1] : 0,
                (long long)mt->numel);
        if (!same) {
            bad = 1;
            continue;
        }
        memcpy(host + mt->offset, ft->data, (size_t)mt->numel * sizeof(float));
    }
    return bad;
}

/* Forward (and the loss checks when check is set): returns the total loss the optimizer sees. */
static int forward(nl_model *m, const nl_config *c, const int32_t *tok, const int32_t *tgt, int B,
                   float *loss, float *aux, float *z, double *total)
{
    nl_error err = {0};
    *aux = *z = 0.0f;
    if (nl_model_forward(m, tok, tgt, B, loss, aux, z, &err)) {
        T_CHECK(0, "nl_model_forward: %.400s", err.msg);
        return 1;
    }
    *total = (double)*loss;
    if (c->model.moe_experts > 0)
        *total += (double)c->model.moe_aux_loss * *aux + (double)c->model.moe_z_loss * *z;
    return 0;
}

/* One fixture's model, batch, reference tensors and the errors found against them. */
typedef struct parity_case {
    const char *name;
    nl_st_file f;
    nl_config c;
    nl_kernels *k;
    nl_model *m;
    nl_optim *o;
    float *host, *grads, *logits;
    int B, T, V;
    const int32_t *tokens, *targets;
    const nl_st_tensor *ref_logits, *ref_loss, *ref_adam;
    double e_loss, e_logits, e_aux, e_z, e_grad, e_adam;
    const char *worst;
} parity_case;

/* The fixture's config, a CPU model of it, and the fixture's parameters loaded into it. */
static int setup_model(parity_case *pc)
{
    nl_error err = {0};
    const char *yaml = nl_st_meta(&pc->f, "config");
    T_CHECK(yaml != NULL, "fixture has no 'config' metadata");
    if (!yaml)
        return 1;
    if (nl_config_load_string(&pc->c, yaml, strlen(yaml), pc->name, &err)) {
        T_CHECK(0, "nl_config_load_string: %.400s", err.msg);
        return 1;
    }
    pc->k = nl_kernels_cpu_create(1);
    T_CHECK(pc->k != NULL, "nl_kernels_cpu_create failed");
    if (!pc->k)
        return 1;
    pc->m = nl_model_create(&pc->c, pc->k, &err);
    if (!pc->m) {
        T_CHECK(0, "nl_model_create: %.400s", err.msg);
        return 1;
    }
    int64_t np = nl_model_num_params(pc->m);
    pc->host = calloc((size_t)np, sizeof(float));
    pc->grads = calloc((size_t)np, sizeof(float));
    T_CHECK(pc->host && pc->grads, "out of memory");
    if (!pc->host || !pc->grads || load_params(pc->m, &pc->f, pc->host))
        return 1;
    nl_model_set_params(pc->m, pc->host);
    return 0;
}

/* The batch (tokens, targets) and the reference loss, logits and AdamW losses. */
static int load_batch(parity_case *pc)
{
    const nl_config *c = &pc->c;
    const nl_st_tensor *tok = nl_st_find(&pc->f, "tokens");
    T_CHECK(tok && tok->dtype == NL_ST_I32 && tok->ndim == 2, "fixture 'tokens' is not I32 (B,T)");
    if (!tok || tok->dtype != NL_ST_I32 || tok->ndim != 2)
        return 1;
    int B = (int)tok->shape[0], T = (int)tok->shape[1], V = nl_config_vocab(c);
    T_CHECK(T == c->model.seq_len && B <= c->train.batch, "tokens (%d,%d) vs seq_len %d, batch %d",
            B, T, c->model.seq_len, c->train.batch);
    const nl_st_tensor *tgt = want_tensor(&pc->f, "targets", NL_ST_I32, (int64_t)B * T);
    pc->ref_logits = want_tensor(&pc->f, "logits", NL_ST_F32, (int64_t)B * T * V);
    pc->ref_loss = want_tensor(&pc->f, "loss", NL_ST_F32, 1);
    pc->ref_adam = want_tensor(&pc->f, "adam_losses", NL_ST_F32, ADAM_STEPS);
    if (T != c->model.seq_len || B > c->train.batch || !tgt || !pc->ref_logits || !pc->ref_loss ||
        !pc->ref_adam)
        return 1;
    pc->B = B, pc->T = T, pc->V = V;
    pc->tokens = tok->data;
    pc->targets = tgt->data;
    return 0;
}

/* The MoE losses of the forward pass against the fixture's (which has them when the model
 * has MoE layers). */
static int check_moe_losses(parity_case *pc, float aux, float z)
{
    const nl_st_tensor *ref_aux = nl_st_find(&pc->f, "aux");
    int moe = nl_model_moe_layers(pc->m);
    T_CHECK((ref_aux != NULL) == (moe > 0), "the model has %d MoE layers; the fixture %s aux loss",
            moe, ref_aux ? "has an" : "has no");
    if (!ref_aux || moe <= 0)
        return 0;
    const nl_st_tensor *ref_z = want_tensor(&pc->f, "z", NL_ST_F32, 1);
    if (!ref_z || ref_aux->dtype != NL_ST_F32 || ref_aux->numel != 1)
        return 1;
    pc->e_aux = rel_err(aux, ((const float *)ref_aux->data)[0]);
    pc->e_z = rel_err(z, ((const float *)ref_z->data)[0]);
    T_CHECK(pc->e_aux < TOL, "aux %.7g, expected %.7g", (double)aux,
            (double)((const float *)ref_aux->data)[0]);
    T_CHECK(pc->e_z < TOL, "z %.7g, expected %.7g", (double)z,
            (double)((const float *)ref_z->data)[0]);
    return 0;
}

/* Forward: loss, logits, MoE losses. */
static int check_forward(parity_case *pc)
{
    float loss, aux, z;
    double total;
    int64_t n = (int64_t)pc->B * pc->T * pc->V;
    if (forward(pc->m, &pc->c, pc->tokens, pc->targets, pc->B, &loss, &aux, &z, &total))
        return 1;
    float want = ((const float *)pc->ref_loss->data)[0];
    pc->e_loss = rel_err(loss, want);
    T_CHECK(pc->e_loss < TOL, "loss %.7g, expected %.7g (relative error %.2g)", (double)loss,
            (double)want, pc->e_loss);
    pc->logits = calloc((size_t)n, sizeof(float));
    T_CHECK(pc->logits != NULL, "out of memory");
    if (!pc->logits)
        return 1;
    nl_model_get_logits(pc->m, pc->logits);
    pc->e_logits = max_rel_err(pc->logits, pc->ref_logits->data, n, 1e-12);
    T_CHECK(pc->e_logits < TOL, "logits: max error %.2g of max |logit|", pc->e_logits);
    return check_moe_losses(pc, aux, z);
}

/* Backward: every gradient tensor. */
static int check_backward(parity_case *pc)
{
    nl_error err = {0};
    if (nl_model_backward(pc->m, &err)) {
        T_CHECK(0, "nl_model_backward: %.400s", err.msg);
        return 1;
    }
    nl_model_get_grads(pc->m, pc->grads);
    pc->e_grad = 0.0;
    pc->worst = "";
    for (int i = 0; i < nl_model_num_tensors(pc->m); i++) {
        const nl_tensor *mt = nl_model_tensor(pc->m, i);
        char key[200];
        snprintf(key, sizeof key, "grad.%s", mt->name);
        const nl_st_tensor *g = want_tensor(&pc->f, key, NL_ST_F32, mt->numel);
        if (!g)
            continue;
        double e = max_rel_err(pc->grads + mt->offset, g->data, mt->numel, 1e-6);
        if (e > pc->e_grad || isnan(e)) {
            pc->e_grad = isnan(e) ? INFINITY : e;
            pc->worst = mt->name;
        }
    }
    T_CHECK(pc->e_grad < TOL, "gradient of %s: max error %.2g of its max |grad|", pc->worst,
            pc->e_grad);
    return 0;
}

/* Five clip + AdamW steps on the same batch, from the fixture's parameters. */
static int check_adam(parity_case *pc)
{
    nl_error err = {0};
    pc->o = nl_optim_create(pc->m, &pc->c.train, &err);
    if (!pc->o) {
        T_CHECK(0, "nl_optim_create: %.400s", err.msg);
        return 1;
    }
    int worst_step = 0;
    const float *want_adam = pc->ref_adam->data;
    pc->e_adam = 0.0;
    for (int i = 0; i < ADAM_STEPS; i++) {
        float loss, aux, z;
        double total;
        if (forward(pc->m, &pc->c, pc->tokens, pc->targets, pc->B, &loss, &aux, &z, &total))
            return 1;
        double e = rel_err(total, want_adam[i]);
        if (e > pc->e_adam || isnan(e)) {
            pc->e_adam = isnan(e) ? INFINITY : e;
            worst_step = i;
        }
        if (nl_model_backward(pc->m, &err)) {
            T_CHECK(0, "nl_model_backward (AdamW step %d): %.400s", i, err.msg);
            return 1;
        }
        if (nl_optim_step(pc->o, nl_lr_at(&pc->c.train, i), false, NULL, &err)) {
            T_CHECK(0, "nl_optim_step %d: %.400s", i, err.msg);
            return 1;
        }
    }
    T_CHECK(pc->e_adam < TOL, "AdamW: total loss before update %d off by %.2g (relative)",
            worst_step, pc->e_adam);
    return 0;
}

static void parity_fixture(const char *path, const char *name)
{
    static parity_case pc;
    nl_error err = {0};
    memset(&pc, 0, sizeof pc);
    pc.name = name;
    if (nl_st_read(path, &pc.f, &err)) {
        T_CHECK(0, "nl_st_read: %.400s", err.msg);
        return;
    }
    if (!setup_model(&pc) && !load_batch(&pc) && !check_forward(&pc) && !check_backward(&pc) &&
        !check_adam(&pc))
        fprintf(stderr,
                "parity/%s: loss %.1e logits %.1e aux %.1e z %.1e grad %.1e (%s) adam %.1e\n", name,
                pc.e_loss, pc.e_logits, pc.e_aux, pc.e_z, pc.e_grad, pc.worst, pc.e_adam);
    nl_optim_free(pc.o);
    nl_model_free(pc.m);
    if (pc.k)
        pc.k->destroy(pc.k);
    free(pc.host);
    free(pc.grads);
    free(pc.logits);
    nl_st_free(&pc.f);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run one fixture as a case: the PASS/FAIL/SKIP line of T_RUN, named parity/<fixture>. */
static void run_case(const char *dir, const char *file)
{
    char path[1024], name[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - strlen(".safetensors")), file);
    t_failed_now = 0;
    t_skipped_now = 0;
    parity_fixture(path, name);
    if (t_failed_now) {
        printf("FAIL parity/%s: %s%s\n", name, t_first_reason,
               t_failed_now > 1 ? " (and more)" : "");
        t_total_failed++;
    } else if (t_skipped_now) {
        printf("SKIP parity/%s: %s\n", name, t_skip_reason);
    } else {
        printf("PASS parity/%s\n", name);
    }
    fflush(stdout);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

int main(int argc, char **argv)
{
    (void)t_skip; /* every fixture either passes or fails */
    const char *dir = getenv("NORMLAB_FIXTURES");
    if (!dir || !*dir)
        dir = "tests/fixtures";
    char *names[MAX_FIXTURES];
    int n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < MAX_FIXTURES) {
            if (!has_suffix(e->d_name, ".safetensors"))
                continue;
            int wanted = argc < 2;
            for (int i = 1; i < argc && !wanted; i++)
                wanted = strstr(e->d_name, argv[i]) != NULL;
            if (wanted)
                names[n++] = strdup(e->d_name);
        }
        closedir(d);
    }
    if (n == 0) {
        printf("FAIL parity: no fixtures (*.safetensors%s) in %s\n", argc > 1 ? " matching" : "",
               dir);
        return 1;
    }
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        run_case(dir, names[i]);
        free(names[i]);
    }
    T_END();
}
