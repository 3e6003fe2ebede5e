/* The built-in prose source: determinism, the structure lessons rely on, and the data-source
 * contract (windows, split, resumable position). */
#include <ctype.h>

#include "../engine/data.h"
#include "../engine/prose.h"
#include "t.h"

enum { N = 200000 };

static void test_prose_deterministic_prefix(void)
{
    uint8_t *a = malloc(N), *b = malloc(N), *c = malloc(N);
    T_CHECK(nl_prose_generate(1, a, N) == 0 && nl_prose_generate(1, b, N / 3) == 0 &&
                nl_prose_generate(2, c, N) == 0,
            "generate failed");
    T_CHECK(memcmp(a, b, N / 3) == 0, "a shorter text of the same seed is not a prefix");
    T_CHECK(memcmp(a, c, 4096) != 0, "seeds 1 and 2 give the same text");
    int printable = 1;
    for (int i = 0; i < N; i++)
        if (!(a[i] == '\n' || (a[i] >= 32 && a[i] < 127)))
            printable = 0;
    T_CHECK(printable, "the text has bytes outside printable ASCII and newline");
    free(a);
    free(b);
    free(c);
}

/* Brackets and quotes close, "a"/"an" follow the next word's first letter, sentences start
 * with a capital, names recur within their paragraph. */
static void test_prose_structure(void)
{
    uint8_t *p = malloc(N + 1);
    nl_prose_generate(7, p, N);
    p[N] = 0;
    char *s = (char *)p, *end = strstr(s + N - 4000, "\n\n");
    T_CHECK(end != NULL, "no paragraph break near the end");
    if (!end)
        return;
    *end = 0;
    long open = 0, close = 0, quotes = 0, a_vowel = 0, an_cons = 0, lower_start = 0;
    for (char *q = s; *q; q++) {
        open += *q == '(';
        close += *q == ')';
        quotes += *q == '"';
        if (q > s && q[-1] == ' ' && q[0] == 'a' && q[1] == ' ' && strchr("aeiou", q[2]))
            a_vowel++;
        if (q > s && q[-1] == ' ' && !strncmp(q, "an ", 3) && !strchr("aeiou", q[3]))
            an_cons++;
        if ((q[0] == '.' || q[0] == '?' || q[0] == '!') && q[1] == ' ' &&
            islower((unsigned char)q[2]))
            lower_start++;
    }
    T_CHECK(open > 50 && open == close, "parentheses: %ld open, %ld close", open, close);
    T_CHECK(quotes > 100 && quotes % 2 == 0, "quotes: %ld", quotes);
    T_CHECK(a_vowel == 0 && an_cons == 0,
            "'a' before a vowel %ld times, 'an' before a consonant %ld", a_vowel, an_cons);
    T_CHECK(lower_start == 0, "%ld sentences start in lower case", lower_start);

    /* A paragraph's names (capitalised words other than the determiners and pronouns that
     * start sentences) come back: the model can predict them only by copying from earlier in
     * the window. */
    static const char *const starts[] = {"The",  "A",     "An",   "This", "Every", "No",  "My",
                                         "Some", "These", "Many", "All",  "They",  "She", "He"};
    int paras = 0, recurring = 0;
    for (char *para = s; para && *para;) {
        char *next = strstr(para, "\n\n");
        if (next)
            *next = 0;
        if (strncmp(para, "def ", 4) != 0) {
            int best = 0;
            for (char *q = para; *q; q++) {
                if (!isupper((unsigned char)*q) || (q > para && isalpha((unsigned char)q[-1])))
                    continue;
                char w[32];
                int n = 0;
                while (isalpha((unsigned char)q[n]) && n < 30)
                    n++;
                memcpy(w, q, (size_t)n);
                w[n] = 0;
                int common = 0;
                for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
                    common |= !strcmp(w, starts[i]);
                int count = 0;
                for (char *r = para; !common && (r = strstr(r, w)); r++)
                    count++;
                if (count > best)
                    best = count;
            }
            paras++;
            recurring += best >= 2;
        }
        para = next ? next + 2 : NULL;
    }
    T_CHECK(paras > 100, "only %d prose paragraphs", paras);
    T_CHECK(recurring > paras / 2, "a name recurs in only %d of %d paragraphs", recurring, paras);
    free(p);
}

static void test_unigram_entropy(void)
{
    const uint8_t two[] = "aabb", one[] = "zzzz";
    T_NEAR(nl_unigram_entropy(two, 4), log(2.0), 1e-12, "two equally common bytes");
    T_NEAR(nl_unigram_entropy(one, 4), 0.0, 1e-12, "one byte");
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    T_NEAR(nl_unigram_entropy(all, 256), log(256.0), 1e-12, "every byte once");
}

static void test_prose_source(void)
{
    nl_data_config dc = {.source = "prose", .seed = 3, .val_fraction = 0.1f};
    nl_error err = {0};
    const int T = 32, B = 4;
    nl_data *d = nl_data_open(&dc, T, 11, &err);
    T_CHECK(d != NULL, "open: %s", err.msg);
    if (!d)
        return;
    T_CHECK(nl_data_vocab(d) == 256, "vocab %d", nl_data_vocab(d));
    T_CHECK(strstr(nl_data_describe(d), "prose") != NULL, "describe: %s", nl_data_describe(d));
    double u = nl_data_unigram_level(d);
    T_CHECK(u > 2.5 && u < 3.6, "unigram level %g outside an English-like 2.5..3.6 nats", u);
    T_CHECK(isnan(nl_data_entropy_floor(d)), "prose claims an exact entropy floor");

    int32_t tok[128], tgt[128], tok2[128], tgt2[128];
    char state[256];
    size_t ss = nl_data_state_size(d);
    T_CHECK(ss <= sizeof state, "state size %zu", ss);
    nl_data_get_state(d, state);
    T_CHECK(nl_data_next_batch(d, tok, tgt, B, &err) == 0, "batch: %s", err.msg);
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++)
            T_CHECK(tgt[b * T + t] == tok[b * T + t + 1], "targets are not tokens shifted by one");
    T_CHECK(nl_data_set_state(d, state, ss, &err) == 0, "set state: %s", err.msg);
    nl_data_next_batch(d, tok2, tgt2, B, &err);
    T_CHECK(!memcmp(tok, tok2, sizeof(int32_t) * B * T), "a restored position gives another batch");

    nl_data_val_batch(d, 2, tok, tgt, B, &err);
    nl_data_val_batch(d, 2, tok2, tgt2, B, &err);
    T_CHECK(!memcmp(tok, tok2, sizeof(int32_t) * B * T), "validation batch 2 is not repeatable");

    nl_data_config other = dc;
    other.seed = 4;
    nl_data *d2 = nl_data_open(&other, T, 11, &err);
    T_CHECK(d2 && nl_data_set_state(d2, state, ss, &err) != 0,
            "a position saved for prose seed 3 was accepted by prose seed 4");
    nl_data_close(d2);
    nl_data_close(d);
}

int main(void)
{
    T_RUN(test_prose_deterministic_prefix);
    T_RUN(test_prose_structure);
    T_RUN(test_unigram_entropy);
    T_RUN(test_prose_source);
    T_END();
}
