/* The metrics store: a single-producer / single-consumer ring of rows. Every slot's arrays
 * live in one block allocated up front, so push and pop never allocate. head counts rows
 * pushed (written by the producer only), tail rows popped (consumer only); a slot is the
 * producer's while head - tail < capacity. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define MAX_CAPACITY (1 << 24)

struct nl_metrics_store {
    alignas(64) _Atomic uint64_t head;
    alignas(64) _Atomic uint64_t tail;
    alignas(64) _Atomic int64_t dropped;
    int layers, moe_layers, experts;
    uint64_t mask;         /* capacity - 1 */
    size_t row_floats;     /* floats of one row's arrays */
    nl_metrics_row *slots; /* (capacity) */
    float *slot_floats;    /* (capacity, row_floats) */
    nl_metrics_row out;    /* the consumer's copy of the last popped row */
    float *out_floats;     /* (row_floats) */
};

/* Point row's arrays into floats, laid out gn_attn, gn_ffn, rms (layers each), then
 * expert_frac (moe_layers*experts), router_entropy, gn_router, gn_experts (moe_layers each). */
static void bind_arrays(const nl_metrics_store *s, nl_metrics_row *row, float *floats)
{
    const int L = s->layers, M = s->moe_layers, E = s->experts;
    row->gn_attn = floats;
    row->gn_ffn = floats + L;
    row->rms = floats + 2 * L;
    if (M > 0) {
        float *moe = floats + 3 * L;
        row->expert_frac = moe;
        row->router_entropy = moe + (size_t)M * E;
        row->gn_router = row->router_entropy + M;
        row->gn_experts = row->gn_router + M;
    } else {
        row->expert_frac = row->router_entropy = row->gn_router = row->gn_experts = NULL;
    }
}

nl_metrics_store *nl_metrics_create(int layers, int moe_layers, int experts, int capacity)
{
    if (layers < 0 || moe_layers < 0 || experts < 0 || (moe_layers > 0 && experts < 1))
        return NULL;
    if (moe_layers == 0)
        experts = 0;
    uint64_t cap = 1;
    while ((int64_t)cap < capacity && cap < MAX_CAPACITY)
        cap <<= 1;
    nl_metrics_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->layers = layers;
    s->moe_layers = moe_layers;
    s->experts = experts;
    s->mask = cap - 1;
    s->row_floats = 3 * (size_t)layers + (size_t)moe_layers * ((size_t)experts + 3);
    size_t nf = s->row_floats ? s->row_floats : 1;
    s->slots = calloc(cap, sizeof *s->slots);
    s->slot_floats = calloc(cap * nf, sizeof *s->slot_floats);
    s->out_floats = calloc(nf, sizeof *s->out_floats);
    if (!s->slots || !s->slot_floats || !s->out_floats) {
        nl_metrics_free(s);
        return NULL;
    }
    for (uint64_t i = 0; i < cap; i++)
        bind_arrays(s, &s->slots[i], s->slot_floats + i * nf);
    bind_arrays(s, &s->out, s->out_floats);
    atomic_init(&s->head, 0);
    atomic_init(&s->tail, 0);
    atomic_init(&s->dropped, 0);
    return s;
}

void nl_metrics_free(nl_metrics_store *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->slot_floats);
    free(s->out_floats);
    free(s);
}

int nl_metrics_layers(const nl_metrics_store *s)
{
    return s->layers;
}
int nl_metrics_moe_layers(const nl_metrics_store *s)
{
    return s->moe_layers;
}
int nl_metrics_experts(const nl_metrics_store *s)
{
    return s->experts;
}

static void copy_floats(float *dst, const float *src, size_t n)
{
    if (src)
        memcpy(dst, src, n * sizeof *dst);
    else
        for (size_t i = 0; i < n; i++)
            dst[i] = NAN;
}

/* Copy row's scalars and arrays into dst, whose arrays are bound to store storage. An array
 * the source lacks (NULL) becomes NANs. */
static void copy_row(const nl_metrics_store *s, nl_metrics_row *dst, const nl_metrics_row *src)
{
    float *gn_attn = dst->gn_attn, *gn_ffn = dst->gn_ffn, *rms = dst->rms;
    float *frac = dst->expert_frac, *ent = dst->router_entropy, *gr = dst->gn_router,
          *ge = dst->gn_experts;
    *dst = *src;
    dst->gn_attn = gn_attn;
    dst->gn_ffn = gn_ffn;
    dst->rms = rms;
    dst->expert_frac = frac;
    dst->router_entropy = ent;
    dst->gn_router = gr;
    dst->gn_experts = ge;
    const size_t L = (size_t)s->layers, M = (size_t)s->moe_layers, E = (size_t)s->experts;
    copy_floats(gn_attn, src->gn_attn, L);
    copy_floats(gn_ffn, src->gn_ffn, L);
    copy_floats(rms, src->rms, L);
    if (M > 0) {
        copy_floats(frac, src->expert_frac, M * E);
        copy_floats(ent, src->router_entropy, M);
        copy_floats(gr, src->gn_router, M);
        copy_floats(ge, src->gn_experts, M);
    }
}

void nl_metrics_push(nl_metrics_store *s, const nl_metrics_row *row)
{
    uint64_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&s->tail, memory_order_acquire);
    if (head - tail > s->mask) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        return;
    }
    copy_row(s, &s->slots[head & s->mask], row);
    atomic_store_explicit(&s->head, head + 1, memory_order_release);
}

int nl_metrics_pop(nl_metrics_store *s, nl_metrics_row *out)
{
    uint64_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&s->head, memory_order_acquire);
    if (tail == head)
        return 0;
    copy_row(s, &s->out, &s->slots[tail & s->mask]);
    atomic_store_explicit(&s->tail, tail + 1, memory_order_release);
    *out = s->out;
    return 1;
}

int64_t nl_metrics_dropped(const nl_metrics_store *s)
{
    return atomic_load_explicit(&((nl_metrics_store *)s)->dropped, memory_order_relaxed);
}

/* ---- metrics.csv ---- */

static const char *const fixed_columns[] = {"step", "tokens",   "time_s",    "lr",
                                            "loss", "val_loss", "grad_norm", "tok_s"};
#define N_FIXED 8

static int csv_fields(int layers, int moe_layers, int experts)
{
    return N_FIXED + 3 * layers + (moe_layers > 0 ? 2 + moe_layers * (experts + 3) : 0);
}

void nl_metrics_csv_header(FILE *f, int layers, int moe_layers, int experts)
{
    for (int i = 0; i < N_FIXED; i++)
        fprintf(f, i ? ",%s" : "%s", fixed_columns[i]);
    for (int l = 0; l < layers; l++)
        fprintf(f, ",gn_attn_%d,gn_ffn_%d,rms_%d", l, l, l);
    if (moe_layers > 0) {
        fputs(",aux_loss,z_loss", f);
        for (int m = 0; m < moe_layers; m++) {
            for (int e = 0; e < experts; e++)
                fprintf(f, ",load_%d_%d", m, e);
            fprintf(f, ",entropy_%d,gn_router_%d,gn_experts_%d", m, m, m);
        }
    }
    fputc('\n', f);
}

static void put_value(FILE *f, double v)
{
    fprintf(f, ",%.6g", v);
}

/* An empty field for a value that is NAN because it was not measured. */
static void put_optional(FILE *f, double v)
{
    if (isnan(v))
        fputc(',', f);
    else
        put_value(f, v);
}

static void put_array(FILE *f, const float *a, int i)
{
    put_value(f, a ? a[i] : NAN);
}

void nl_metrics_csv_row(FILE *f, const nl_metrics_row *row, int layers, int moe_layers, int experts)
{
    fprintf(f, "%" PRId64 ",%" PRId64, row->step, row->tokens);
    put_value(f, row->time_s);
    put_value(f, row->lr);
    put_value(f, row->loss);
    put_optional(f, row->val_loss);
    put_value(f, row->grad_norm);
    put_value(f, row->tok_s);
    for (int l = 0; l < layers; l++) {
        put_array(f, row->gn_attn, l);
        put_array(f, row->gn_ffn, l);
        put_array(f, row->rms, l);
    }
    if (moe_layers > 0) {
        put_optional(f, row->aux_loss);
        put_optional(f, row->z_loss);
        for (int m = 0; m < moe_layers; m++) {
            for (int e = 0; e < experts; e++)
                put_array(f, row->expert_frac, m * experts + e);
            put_array(f, row->router_entropy, m);
            put_array(f, row->gn_router, m);
            put_array(f, row->gn_experts, m);
        }
    }
    fputc('\n', f);
}

static int parse_int64(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

/* An empty field is NAN (not measured); "nan" and "inf" are read as written. */
static int parse_double(const char *s, double *out)
{
    if (!*s) {
        *out = NAN;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int nl_metrics_csv_parse(const char *line, nl_metrics_row *row, int layers, int moe_layers,
                         int experts, nl_error *err)
{
    const int want = csv_fields(layers, moe_layers, experts);
    size_t len = strlen(line);
    char *buf = malloc(len + 1);
    char **fields = malloc(((size_t)want + 1) * sizeof *fields);
    if (!buf || !fields) {
        free(buf);
        free(fields);
        return nl_fail(err, NL_ERR_USAGE, "metrics.csv row: out of memory");
    }
    memcpy(buf, line, len + 1);
    int rc = 0;
    int n = nl_csv_split(buf, fields, want);
    if (n < 0) {
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv row: badly quoted field");
        goto done;
    }
    if (n != want) {
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv row: expected %d fields, got %d", want, n);
        goto done;
    }
    for (int k = 0; k < 2; k++)
        if (parse_int64(fields[k], k == 0 ? &row->step : &row->tokens)) {
            rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv row: bad %s '%s'", fixed_columns[k],
                         fields[k]);
            goto done;
        }
    double fixed[N_FIXED] = {0};
    int k = 2;
    for (; k < want; k++) {
        double x;
        if (parse_double(fields[k], &x))
            break;
        if (k < N_FIXED) {
            fixed[k] = x;
            continue;
        }
        /* the per-layer and MoE columns, in header order */
        int j = k - N_FIXED;
        if (j < 3 * layers) {
            float *dst = j % 3 == 0 ? row->gn_attn : j % 3 == 1 ? row->gn_ffn : row->rms;
            dst[j / 3] = (float)x;
            continue;
        }
        j -= 3 * layers;
        if (j < 2) {
            *(j == 0 ? &row->aux_loss : &row->z_loss) = (float)x;
            continue;
        }
        j -= 2;
        int m = j / (experts + 3), e = j % (experts + 3);
        if (e < experts)
            row->expert_frac[m * experts + e] = (float)x;
        else if (e == experts)
            row->router_entropy[m] = (float)x;
        else if (e == experts + 1)
            row->gn_router[m] = (float)x;
        else
            row->gn_experts[m] = (float)x;
    }
    if (k < want) {
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv row: field %d is not a number: '%s'", k + 1,
                     fields[k]);
        goto done;
    }
    row->time_s = fixed[2];
    row->lr = (float)fixed[3];
    row->loss = (float)fixed[4];
    row->val_loss = (float)fixed[5];
    row->grad_norm = (float)fixed[6];
    row->tok_s = (float)fixed[7];
    if (moe_layers == 0)
        row->aux_loss = row->z_loss = NAN;
done:
    free(buf);
    free(fields);
    return rc;
}

/* Reads "<prefix><a>" or "<prefix><a>_<b>" with decimal a, b; returns the count read. */
static int column_index(const char *col, const char *prefix, int *a, int *b)
{
    size_t pl = strlen(prefix);
    if (strncmp(col, prefix, pl) != 0)
        return 0;
    const char *p = col + pl;
    char *end;
    if (*p < '0' || *p > '9')
        return 0;
    long x = strtol(p, &end, 10);
    if (x > 1000000)
        return 0;
    *a = (int)x;
    if (!*end)
        return 1;
    if (!b || *end != '_' || end[1] < '0' || end[1] > '9')
        return 0;
    long y = strtol(end + 1, &end, 10);
    if (*end || y > 1000000)
        return 0;
    *b = (int)y;
    return 2;
}

static int same_index(const char *col, const char *prefix, int want)
{
    int a;
    return column_index(col, prefix, &a, NULL) == 1 && a == want;
}

/* The MoE columns of a header, from aux_loss at f[*i]: aux_loss, z_loss, then per MoE layer
 * its experts' load columns and three more. Counts the layers into *M and the experts into *E;
 * returns -1 with the column expected at f[*i] in expect. */
static int moe_columns(char **f, int n, int *i, int *M, int *E, char *expect, size_t cap)
{
    static const char *const moe_cols[3] = {"entropy_", "gn_router_", "gn_experts_"};
    (*i)++; /* aux_loss */
    if (*i >= n || strcmp(f[*i], "z_loss") != 0) {
        snprintf(expect, cap, "z_loss");
        return -1;
    }
    (*i)++;
    for (int first = 1; *i < n; first = 0) {
        int e = 0, a, b;
        while (*i < n && column_index(f[*i], "load_", &a, &b) == 2 && a == *M && b == e) {
            e++;
            (*i)++;
        }
        if (first)
            *E = e;
        if (e == 0 || e != *E) {
            snprintf(expect, cap, "load_%d_%d", *M, e);
            return -1;
        }
        for (int t = 0; t < 3; t++, (*i)++)
            if (*i >= n || !same_index(f[*i], moe_cols[t], *M)) {
                snprintf(expect, cap, "%s%d", moe_cols[t], *M);
                return -1;
            }
        (*M)++;
    }
    if (*M == 0) {
        snprintf(expect, cap, "load_0_0");
        return -1;
    }
    return 0;
}

int nl_metrics_csv_parse_header(const char *line, int *layers, int *moe_layers, int *experts,
                                nl_error *err)
{
    size_t len = strlen(line);
    char *buf = malloc(len + 1);
    int max = (int)len + 1; /* every field but the last ends in a comma */
    char **f = malloc(((size_t)max + 1) * sizeof *f);
    if (!buf || !f) {
        free(buf);
        free(f);
        return nl_fail(err, NL_ERR_USAGE, "metrics.csv header: out of memory");
    }
    memcpy(buf, line, len + 1);
    int n = nl_csv_split(buf, f, max);
    int rc = 0, i = 0;
    if (n < 0) {
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv header: badly quoted field");
        goto done;
    }
    char expect[64];
    for (; i < N_FIXED; i++)
        if (i >= n || strcmp(f[i], fixed_columns[i]) != 0) {
            snprintf(expect, sizeof expect, "%s", fixed_columns[i]);
            goto bad;
        }
    int L = 0, M = 0, E = 0;
    static const char *const layer_cols[3] = {"gn_attn_", "gn_ffn_", "rms_"};
    while (i < n && strcmp(f[i], "aux_loss") != 0) {
        for (int t = 0; t < 3; t++, i++)
            if (i >= n || !same_index(f[i], layer_cols[t], L)) {
                snprintf(expect, sizeof expect, "%s%d", layer_cols[t], L);
                goto bad;
            }
        L++;
    }
    if (i < n && moe_columns(f, n, &i, &M, &E, expect, sizeof expect))
        goto bad;
    *layers = L;
    *moe_layers = M;
    *experts = E;
    goto done;
bad:
    if (i < n && i < max)
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv header: column %d is '%s', expected '%s'",
                     i + 1, f[i], expect);
    else
        rc = nl_fail(err, NL_ERR_USAGE, "metrics.csv header: ends after %d columns, expected '%s'",
                     n, expect);
done:
    free(buf);
    free(f);
    return rc;
}

const char *nl_event_message(const char *line, long long *step)
{
    char ts[64];
    int used = 0;
    *step = -1;
    if (sscanf(line, "%63s step %lld %n", ts, step, &used) >= 2 && used > 0)
        return line + used;
    *step = -1;
    return line;
}

nl_event_kind nl_event_kind_of(const char *msg, long long *diverged_step)
{
    static const struct {
        const char *prefix;
        nl_event_kind kind;
    } kinds[] = {
        {"created:", NL_EVENT_CREATED},   {"resumed from ", NL_EVENT_RESUMED},
        {"finished:", NL_EVENT_FINISHED}, {"stopped", NL_EVENT_STOPPED},
        {"diverged at step ", NL_EVENT_DIVERGED}, {"failed:", NL_EVENT_FAILED},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(msg, kinds[i].prefix, n))
            continue;
        if (kinds[i].kind == NL_EVENT_DIVERGED && diverged_step)
            *diverged_step = strtoll(msg + n, NULL, 10);
        return kinds[i].kind;
    }
    return NL_EVENT_OTHER;
}
