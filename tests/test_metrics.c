/* The metrics store: ring order, wraparound, drops, a two-thread stress, and the metrics.csv
 * header/row writer and parsers. */
#include <pthread.h>
#include <stdint.h>

#include "engine/metrics.h"
#include "t.h"

enum { L = 3, M = 2, E = 4 };

typedef struct row_buf {
    nl_metrics_row row;
    float gn_attn[L], gn_ffn[L], rms[L];
    float frac[M * E], ent[M], gr[M], ge[M];
} row_buf;

/* Every value of row `step` is a distinct function of step, so a row is checkable alone. */
static void fill_row(row_buf *b, int64_t step, int moe)
{
    memset(b, 0, sizeof *b);
    nl_metrics_row *r = &b->row;
    r->step = step;
    r->tokens = step * 512;
    r->time_s = 0.25 * (double)step;
    r->lr = 1e-3f / (float)(step + 1);
    r->loss = 5.0f - 0.001f * (float)step;
    r->val_loss = step % 10 == 0 ? 4.5f : NAN;
    r->grad_norm = 0.5f + (float)step;
    r->tok_s = 1000.0f + (float)step;
    r->aux_loss = moe ? 0.01f * (float)step : NAN;
    r->z_loss = moe ? 0.002f * (float)step : NAN;
    for (int l = 0; l < L; l++) {
        b->gn_attn[l] = (float)(step * 10 + l);
        b->gn_ffn[l] = (float)(step * 10 + l) + 0.5f;
        b->rms[l] = (float)(step * 10 + l) + 0.25f;
    }
    r->gn_attn = b->gn_attn;
    r->gn_ffn = b->gn_ffn;
    r->rms = b->rms;
    if (moe) {
        for (int i = 0; i < M * E; i++)
            b->frac[i] = (float)(step + i) / 64.0f;
        for (int m = 0; m < M; m++) {
            b->ent[m] = 1.0f + (float)m;
            b->gr[m] = 2.0f + (float)m + (float)step;
            b->ge[m] = 3.0f + (float)m;
        }
        r->expert_frac = b->frac;
        r->router_entropy = b->ent;
        r->gn_router = b->gr;
        r->gn_experts = b->ge;
    }
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Compares every field of got with the row fill_row makes for `step`; tol is relative
 * (0 for exact copies, ~1e-5 after a %.6g round trip). */
static int row_matches(const nl_metrics_row *got, int64_t step, int moe, double tol)
{
    row_buf want;
    fill_row(&want, step, moe);
    const nl_metrics_row *w = &want.row;
#define CLOSE(a, b)                                                                                \
    (tol == 0 ? same_float((float)(a), (float)(b))                                                 \
              : ((isnan(a) && isnan(b)) ||                                                         \
                 fabs((double)(a) - (double)(b)) <= tol * fmax(1e-30, fabs((double)(b)))))
    int ok = got->step == w->step && got->tokens == w->tokens && CLOSE(got->time_s, w->time_s) &&
             CLOSE(got->lr, w->lr) && CLOSE(got->loss, w->loss) &&
             CLOSE(got->val_loss, w->val_loss) && CLOSE(got->grad_norm, w->grad_norm) &&
             CLOSE(got->tok_s, w->tok_s) && CLOSE(got->aux_loss, w->aux_loss) &&
             CLOSE(got->z_loss, w->z_loss);
    for (int l = 0; l < L; l++)
        ok &= CLOSE(got->gn_attn[l], w->gn_attn[l]) && CLOSE(got->gn_ffn[l], w->gn_ffn[l]) &&
              CLOSE(got->rms[l], w->rms[l]);
    if (moe) {
        for (int i = 0; i < M * E; i++)
            ok &= CLOSE(got->expert_frac[i], w->expert_frac[i]);
        for (int m = 0; m < M; m++)
            ok &= CLOSE(got->router_entropy[m], w->router_entropy[m]) &&
                  CLOSE(got->gn_router[m], w->gn_router[m]) &&
                  CLOSE(got->gn_experts[m], w->gn_experts[m]);
    } else {
        ok &= !got->expert_frac && !got->router_entropy && !got->gn_router && !got->gn_experts;
    }
#undef CLOSE
    return ok;
}

static void test_ring_order(void)
{
    nl_metrics_store *s = nl_metrics_create(L, M, E, 5); /* rounded up to 8 */
    T_CHECK(s != NULL, "create");
    if (!s)
        return;
    T_CHECK(nl_metrics_layers(s) == L && nl_metrics_moe_layers(s) == M &&
                nl_metrics_experts(s) == E,
            "dims");
    nl_metrics_row out;
    T_CHECK(nl_metrics_pop(s, &out) == 0, "pop from an empty ring");
    row_buf b;
    for (int i = 1; i <= 5; i++) {
        fill_row(&b, i, 1);
        nl_metrics_push(s, &b.row);
        memset(&b, 0xff, sizeof b); /* the store holds its own copy */
    }
    for (int i = 1; i <= 5; i++) {
        T_CHECK(nl_metrics_pop(s, &out) == 1, "pop %d", i);
        T_CHECK(row_matches(&out, i, 1, 0), "row %d differs after the ring", i);
    }
    T_CHECK(nl_metrics_pop(s, &out) == 0, "ring not empty after popping everything");
    T_CHECK(nl_metrics_dropped(s) == 0, "dropped %lld", (long long)nl_metrics_dropped(s));
    nl_metrics_free(s);
}

static void test_ring_wraparound_and_drops(void)
{
    nl_metrics_store *s = nl_metrics_create(L, 0, 0, 4);
    row_buf b;
    nl_metrics_row out;
    int64_t next_push = 1, next_pop = 1, received = 0, gaps = 0;
    /* 50 laps of 3 in, 2 out: the ring wraps, fills, and then drops one row per lap */
    for (int lap = 0; lap < 51; lap++) {
        for (int i = 0; i < 3 && lap < 50; i++) {
            fill_row(&b, next_push++, 0);
            nl_metrics_push(s, &b.row);
        }
        for (int i = 0; i < (lap < 50 ? 2 : 100); i++) {
            if (nl_metrics_pop(s, &out) != 1)
                break;
            T_CHECK(out.step >= next_pop, "popped step %lld after %lld", (long long)out.step,
                    (long long)next_pop - 1);
            T_CHECK(row_matches(&out, out.step, 0, 0), "row %lld differs", (long long)out.step);
            gaps += out.step - next_pop;
            next_pop = out.step + 1;
            received++;
        }
    }
    const int64_t pushed = next_push - 1;
    T_CHECK(nl_metrics_dropped(s) > 0, "a full ring dropped nothing");
    T_CHECK(received + nl_metrics_dropped(s) == pushed &&
                gaps + (pushed + 1 - next_pop) == nl_metrics_dropped(s),
            "pushed %lld, received %lld, dropped %lld, gaps %lld", (long long)pushed,
            (long long)received, (long long)nl_metrics_dropped(s), (long long)gaps);
    /* occupancy after lap n is min(n+1, 2) once full: 4 slots, +3 -2 per lap */
    T_CHECK(received == 102, "received %lld, expected 102", (long long)received);

    /* a full ring: the 5th push of 4 slots is dropped and counted, the first 4 survive */
    nl_metrics_store *f = nl_metrics_create(L, 0, 0, 4);
    for (int i = 1; i <= 6; i++) {
        fill_row(&b, i, 0);
        nl_metrics_push(f, &b.row);
    }
    T_CHECK(nl_metrics_dropped(f) == 2, "dropped %lld, expected 2",
            (long long)nl_metrics_dropped(f));
    for (int i = 1; i <= 4; i++)
        T_CHECK(nl_metrics_pop(f, &out) == 1 && out.step == i, "slot %d", i);
    T_CHECK(nl_metrics_pop(f, &out) == 0, "a dropped row was stored");
    nl_metrics_free(f);
    nl_metrics_free(s);
}

/* A row without the MoE or per-layer arrays stores NANs for them. */
static void test_ring_missing_arrays(void)
{
    nl_metrics_store *s = nl_metrics_create(L, M, E, 2);
    row_buf b;
    fill_row(&b, 7, 0);
    nl_metrics_push(s, &b.row);
    nl_metrics_row out;
    T_CHECK(nl_metrics_pop(s, &out) == 1, "pop");
    T_CHECK(out.expert_frac && isnan(out.expert_frac[M * E - 1]) && isnan(out.gn_experts[0]),
            "missing MoE arrays are not NAN");
    T_CHECK(out.gn_attn[2] == 72.0f, "gn_attn[2] = %g", out.gn_attn[2]);
    nl_metrics_free(s);
}

typedef struct stress {
    nl_metrics_store *s;
    int64_t n;
    int64_t received, bad, last;
} stress;

static void *producer(void *arg)
{
    stress *st = arg;
    row_buf b;
    for (int64_t i = 1; i <= st->n; i++) {
        fill_row(&b, i, 1);
        nl_metrics_push(st->s, &b.row);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    stress *st = arg;
    nl_metrics_row out;
    while (st->received < st->n) {
        if (!nl_metrics_pop(st->s, &out))
            continue;
        if (out.step != st->last + 1 || !row_matches(&out, out.step, 1, 0))
            st->bad++;
        st->last = out.step;
        st->received++;
    }
    return NULL;
}

static void test_ring_two_threads(void)
{
    /* capacity covers every row: nothing may be lost, duplicated, reordered or torn */
    stress st = {.s = nl_metrics_create(L, M, E, 1 << 17), .n = 100000};
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, &st);
    pthread_create(&p, NULL, producer, &st);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    T_CHECK(st.received == st.n && st.bad == 0 && nl_metrics_dropped(st.s) == 0,
            "received %lld, bad %lld, dropped %lld", (long long)st.received, (long long)st.bad,
            (long long)nl_metrics_dropped(st.s));
    nl_metrics_free(st.s);

    /* a small ring under a live consumer: what arrives is in order and intact, and
     * received + dropped = pushed */
    stress sm = {.s = nl_metrics_create(L, M, E, 8), .n = 50000};
    pthread_create(&p, NULL, producer, &sm);
    pthread_join(p, NULL);
    nl_metrics_row out;
    int64_t last = 0, got = 0, bad = 0;
    while (nl_metrics_pop(sm.s, &out)) {
        bad += out.step <= last || !row_matches(&out, out.step, 1, 0);
        last = out.step;
        got++;
    }
    T_CHECK(bad == 0 && got == 8 && got + nl_metrics_dropped(sm.s) == sm.n,
            "small ring: got %lld, bad %lld, dropped %lld", (long long)got, (long long)bad,
            (long long)nl_metrics_dropped(sm.s));
    nl_metrics_free(sm.s);
}

/* The whole content of the temporary file f, closed (caller frees). */
static char *slurp(FILE *f)
{
    long len = ftell(f);
    char *text = calloc((size_t)len + 1, 1);
    rewind(f);
    if (fread(text, 1, (size_t)len, f) != (size_t)len)
        text[0] = '\0';
    fclose(f);
    return text;
}

/* The header and n rows from step `first` as text (caller frees). */
static char *write_csv(int moe, int64_t first, int n)
{
    FILE *f = tmpfile();
    nl_metrics_csv_header(f, L, moe ? M : 0, moe ? E : 0);
    row_buf b;
    for (int i = 0; i < n; i++) {
        fill_row(&b, first + i, moe);
        nl_metrics_csv_row(f, &b.row, L, moe ? M : 0, moe ? E : 0);
    }
    return slurp(f);
}

static void test_csv_header(void)
{
    char *dense = write_csv(0, 1, 0);
    T_CHECK(strcmp(dense,
                   "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,gn_attn_0,"
                   "gn_ffn_0,rms_0,gn_attn_1,gn_ffn_1,rms_1,gn_attn_2,gn_ffn_2,rms_2\n") == 0,
            "dense header: %s", dense);
    char *moe = write_csv(1, 1, 0);
    const char *tail = ",rms_2,aux_loss,z_loss,load_0_0,load_0_1,load_0_2,load_0_3,entropy_0,"
                       "gn_router_0,gn_experts_0,load_1_0,load_1_1,load_1_2,load_1_3,entropy_1,"
                       "gn_router_1,gn_experts_1\n";
    T_CHECK(strstr(moe, tail) != NULL && strlen(strstr(moe, tail)) == strlen(tail),
            "MoE header: %s", moe);
    nl_error err = {0};
    int l = -1, m = -1, e = -1;
    T_CHECK(nl_metrics_csv_parse_header(dense, &l, &m, &e, &err) == 0 && l == L && m == 0 && e == 0,
            "dense header parsed as %d %d %d: %s", l, m, e, err.msg);
    T_CHECK(nl_metrics_csv_parse_header(moe, &l, &m, &e, &err) == 0 && l == L && m == M && e == E,
            "MoE header parsed as %d %d %d: %s", l, m, e, err.msg);
    T_CHECK(nl_metrics_csv_parse_header("step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s", &l,
                                        &m, &e, &err) == 0 &&
                l == 0 && m == 0,
            "no layers: %s", err.msg);
    const char *bad[] = {
        "step,tokens,time_s,lr,loss,val_loss,grad_norm",
        "step,tokens,time_s,lr,loss,val_loss,tok_s,grad_norm",
        "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,gn_attn_0,gn_ffn_0",
        "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,gn_attn_0,gn_ffn_0,rms_0,gn_attn_2,"
        "gn_ffn_2,rms_2",
        "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,aux_loss,z_loss",
        "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,aux_loss,z_loss,load_0_0,load_0_1,"
        "entropy_0,gn_router_0,gn_experts_0,load_1_0,entropy_1,gn_router_1,gn_experts_1",
        "step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,extra",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        T_CHECK(nl_metrics_csv_parse_header(bad[i], &l, &m, &e, &err) == NL_ERR_USAGE,
                "bad header %zu accepted", i);
        T_CHECK(strstr(err.msg, "metrics.csv header") != NULL, "message: %s", err.msg);
    }
    free(dense);
    free(moe);
}

static void test_csv_round_trip(void)
{
    for (int moe = 0; moe <= 1; moe++) {
        char *text = write_csv(moe, 9, 3); /* steps 9, 10 (with val_loss), 11 */
        char *line = strchr(text, '\n') + 1;
        row_buf b;
        fill_row(&b, 0, moe);
        nl_error err = {0};
        for (int i = 0; i < 3; i++) {
            char *end = strchr(line, '\n');
            T_CHECK(end != NULL, "row %d has no newline", i);
            if (!end)
                break;
            *end = '\0';
            if (i == 0) {
                /* val_loss (and aux/z) are empty fields when NAN; floats use %.6g */
                const char *want = "9,4608,2.25,0.0001,4.991,,9.5,1009,90,90.5,90.25,";
                T_CHECK(strncmp(line, want, strlen(want)) == 0, "row: %s", line);
                if (!moe)
                    T_CHECK(!strstr(line, "nan"), "a NAN was written as text: %s", line);
            }
            T_CHECK(nl_metrics_csv_parse(line, &b.row, L, moe ? M : 0, moe ? E : 0, &err) == 0,
                    "parse: %s", err.msg);
            T_CHECK(row_matches(&b.row, 9 + i, moe, 1e-5), "row %d did not round-trip: %s", i,
                    line);
            line = end + 1;
        }
        free(text);
    }
    /* a NAN aux loss is an empty field, and reads back as NAN */
    row_buf b;
    fill_row(&b, 3, 1);
    b.row.aux_loss = NAN;
    FILE *f = tmpfile();
    nl_metrics_csv_row(f, &b.row, L, M, E);
    char *text = slurp(f);
    T_CHECK(strstr(text, ",,0.006,") != NULL, "aux NAN not empty: %s", text);
    nl_error err = {0};
    T_CHECK(nl_metrics_csv_parse(text, &b.row, L, M, E, &err) == 0 && isnan(b.row.aux_loss) &&
                fabsf(b.row.z_loss - 0.006f) < 1e-7f,
            "parse: %s", err.msg);
    free(text);
}

static void test_csv_parse_errors(void)
{
    row_buf b;
    fill_row(&b, 0, 0);
    nl_error err = {0};
    const char *bad[] = {
        "1,512,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,7,8",      /* one field short */
        "1,512,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,7,8,9,10", /* one too many */
        "x,512,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,7,8,9",    /* bad step */
        "1,,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,7,8,9",       /* empty tokens */
        "1,512,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,abc,8,9",  /* not a number */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        T_CHECK(nl_metrics_csv_parse(bad[i], &b.row, L, 0, 0, &err) == NL_ERR_USAGE,
                "bad row %zu accepted", i);
        T_CHECK(strstr(err.msg, "metrics.csv") != NULL, "message: %s", err.msg);
    }
    T_CHECK(nl_metrics_csv_parse("1,512,0.25,0.001,5,,1.5,1001,1,2,3,4,5,6,7,8,9\r\n", &b.row, L, 0,
                                 0, &err) == 0 &&
                b.row.rms[2] == 9.0f && isnan(b.row.val_loss),
            "CRLF row: %s", err.msg);
}

/* events.log lines: the message after "TIME step N", and what it says of the run's state
 * (by its first words: "removed ..., an unfinished checkpoint" is not "finished"). */
static void test_event_kinds(void)
{
    long long step = 0, at = -7;
    const char *msg = nl_event_message("2026-11-30T10:00:00Z step 12 finished: loss 2.1 after 12 "
                                       "steps\n", &step);
    T_CHECK(step == 12 && !strncmp(msg, "finished:", 9), "step %lld, message '%s'", step, msg);
    msg = nl_event_message("not an event line", &step);
    T_CHECK(step == -1 && !strcmp(msg, "not an event line"), "step %lld", step);
    static const struct {
        const char *msg;
        nl_event_kind kind;
    } cases[] = {
        {"created: x, 100 parameters, cpu backend", NL_EVENT_CREATED},
        {"resumed from r/ckpt-20.nlck at step 20", NL_EVENT_RESUMED},
        {"resume from r/ckpt-20.nlck refused: bad", NL_EVENT_OTHER},
        {"finished: loss 2.1 after 12 steps", NL_EVENT_FINISHED},
        {"stopped by signal 2 at step 40", NL_EVENT_STOPPED},
        {"stopped at step 3", NL_EVENT_STOPPED},
        {"diverged at step 31: loss 9 above 3 x the initial 5 for 4 steps", NL_EVENT_DIVERGED},
        {"failed: out of memory", NL_EVENT_FAILED},
        {"removed ckpt-3.nlck.tmp, an unfinished checkpoint of an interrupted run",
         NL_EVENT_OTHER},
        {"checkpoint r/ckpt-10.nlck", NL_EVENT_OTHER},
        {"threads 2 -> 1 (auto: 1 other program running on 2 cores)", NL_EVENT_OTHER},
        {"", NL_EVENT_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nl_event_kind k = nl_event_kind_of(cases[i].msg, &at);
        T_CHECK(k == cases[i].kind, "'%s': kind %d, expected %d", cases[i].msg, (int)k,
                (int)cases[i].kind);
    }
    T_CHECK(at == 31, "diverged step %lld, expected 31", at);
}

int main(void)
{
    T_RUN(test_ring_order);
    T_RUN(test_ring_wraparound_and_drops);
    T_RUN(test_ring_missing_arrays);
    T_RUN(test_ring_two_threads);
    T_RUN(test_csv_header);
    T_RUN(test_csv_round_trip);
    T_RUN(test_csv_parse_errors);
    T_RUN(test_event_kinds);
    T_END();
}
