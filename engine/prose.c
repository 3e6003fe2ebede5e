/* The `prose` generator (prose.h). A lexicon of pseudo-words is spelt from syllables and
 * ranked by a Zipf law, so common words are short and frequent as in English; function words
 * are English. A paragraph picks a topic (a handful of content words it keeps returning to),
 * two names that appear nowhere else (predictable only by copying them from earlier in the
 * window), and a tense; its sentences come from a small grammar with subject-verb number
 * agreement, "a"/"an", prepositional phrases, relative clauses, dialogue in quotes and
 * parentheses that close. One paragraph in twelve is a short code block whose variables
 * recur. All of it is drawn from one nl_rng, so the text is a pure function of the seed. */
#include "prose.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

enum { N_NOUN = 1200, N_VERB = 500, N_ADJ = 400, WORD_MAX = 24 };
enum { TOPIC_N = 10, TOPIC_V = 5, TOPIC_A = 5 };

typedef struct lexicon {
    char noun[N_NOUN][WORD_MAX], verb[N_VERB][WORD_MAX], adj[N_ADJ][WORD_MAX];
    double cum_noun[N_NOUN], cum_verb[N_VERB], cum_adj[N_ADJ]; /* Zipf, cumulative */
} lexicon;

typedef struct writer {
    uint8_t *out;
    size_t n, pos;
    int cap_next; /* capitalise the next letter written */
} writer;

typedef struct para {
    int topic_n[TOPIC_N], topic_v[TOPIC_V], topic_a[TOPIC_A];
    char name[2][WORD_MAX];
    int past;
} para;

typedef struct gen {
    nl_rng r;
    lexicon *lx;
    writer w;
    para p;
} gen;

static const char *const ONSET[] = {"b", "br", "c",  "ch", "d", "dr", "f",  "fl", "g",  "gr",
                                    "h", "j",  "k",  "l",  "m", "n",  "p",  "pl", "pr", "r",
                                    "s", "sh", "sl", "st", "t", "th", "tr", "v",  "w",  "z"};
static const char *const VOWEL[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "y"};
static const char *const CODA[] = {"",  "",  "",   "n",  "r",  "l",  "m",
                                   "s", "t", "nd", "rk", "st", "ck", "ng"};
static const char *const PREP[] = {"of",    "in",   "on",   "with", "from",
                                   "under", "over", "near", "for"};
static const char *const CONJ[] = {", and ", ", but ", " because ", " while ", ", so "};
static const char *const DET_SG[] = {"the", "the", "the", "a", "a", "this", "every", "no", "my"};
static const char *const DET_PL[] = {"the", "the", "some", "these", "many", "no", "all the"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int below(gen *g, int n)
{
    return (int)nl_rng_below(&g->r, (uint64_t)n);
}

static int chance(gen *g, double p)
{
    return nl_rng_uniform(&g->r) < p;
}

static int full(const gen *g)
{
    return g->w.pos >= g->w.n;
}

static void put(gen *g, const char *s)
{
    for (; *s && g->w.pos < g->w.n; s++) {
        char c = *s;
        if (g->w.cap_next && c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
            g->w.cap_next = 0;
        } else if (c != ' ' && c != '"' && c != '(') {
            g->w.cap_next = 0;
        }
        g->w.out[g->w.pos++] = (uint8_t)c;
    }
}

static void make_word(gen *g, char *w, int syllables)
{
    w[0] = 0;
    for (int s = 0; s < syllables; s++) {
        if (s == 0 || chance(g, 0.7))
            strcat(w, ONSET[below(g, COUNT(ONSET))]);
        strcat(w, VOWEL[below(g, COUNT(VOWEL))]);
        if (s == syllables - 1 || chance(g, 0.3))
            strcat(w, CODA[below(g, COUNT(CODA))]);
    }
}

/* Words of rank r get weight 1/(r+2.7) (Zipf) and 1 to 3 syllables, fewer for common ones. */
static void make_class(gen *g, char (*words)[WORD_MAX], double *cum, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        int syl = 1 + (i > n / 10) + (i > n / 2 && chance(g, 0.5));
        make_word(g, words[i], syl);
        total += 1.0 / (i + 2.7);
        cum[i] = total;
    }
    for (int i = 0; i < n; i++)
        cum[i] /= total;
}

static int zipf(gen *g, const double *cum, int n)
{
    double u = nl_rng_uniform(&g->r);
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cum[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void put_plural(gen *g, const char *w)
{
    size_t L = strlen(w);
    put(g, w);
    char last = L ? w[L - 1] : 0;
    put(g, last == 's' || last == 'h' ? "es" : "s");
}

/* Verb forms: present singular "-s", plural the stem, past "-ed" ("-d" after e). */
static void put_verb(gen *g, int v, int plural)
{
    const char *w = g->lx->verb[v];
    size_t L = strlen(w);
    if (g->p.past) {
        put(g, w);
        put(g, L && w[L - 1] == 'e' ? "d" : "ed");
    } else if (plural) {
        put(g, w);
    } else {
        put_plural(g, w);
    }
}

static int pick_noun(gen *g)
{
    return chance(g, 0.35) ? g->p.topic_n[below(g, TOPIC_N)] : zipf(g, g->lx->cum_noun, N_NOUN);
}

static int pick_verb(gen *g)
{
    return chance(g, 0.3) ? g->p.topic_v[below(g, TOPIC_V)] : zipf(g, g->lx->cum_verb, N_VERB);
}

static int pick_adj(gen *g)
{
    return chance(g, 0.3) ? g->p.topic_a[below(g, TOPIC_A)] : zipf(g, g->lx->cum_adj, N_ADJ);
}

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

static void verb_phrase(gen *g, int plural, int depth);

/* A noun phrase; returns whether it is plural. */
static int noun_phrase(gen *g, int depth)
{
    int plural = chance(g, 0.3);
    const char *det = plural ? DET_PL[below(g, COUNT(DET_PL))] : DET_SG[below(g, COUNT(DET_SG))];
    char first[WORD_MAX];
    int nadj = chance(g, 0.35) + chance(g, 0.12);
    int adj[2] = {nadj > 0 ? pick_adj(g) : 0, nadj > 1 ? pick_adj(g) : 0};
    int noun = pick_noun(g);
    snprintf(first, sizeof first, "%s", nadj ? g->lx->adj[adj[0]] : g->lx->noun[noun]);
    if (!strcmp(det, "a") && is_vowel(first[0]))
        det = "an";
    put(g, det);
    for (int i = 0; i < nadj; i++) {
        put(g, " ");
        put(g, g->lx->adj[adj[i]]);
        if (i + 1 < nadj)
            put(g, ",");
    }
    put(g, " ");
    if (plural)
        put_plural(g, g->lx->noun[noun]);
    else
        put(g, g->lx->noun[noun]);
    if (depth < 2 && chance(g, 0.15)) {
        put(g, " ");
        put(g, PREP[below(g, COUNT(PREP))]);
        put(g, " ");
        noun_phrase(g, depth + 1);
    }
    if (depth < 1 && chance(g, 0.08)) {
        put(g, " that ");
        verb_phrase(g, plural, depth + 1);
    }
    return plural;
}

static void verb_phrase(gen *g, int plural, int depth)
{
    put_verb(g, pick_verb(g), plural);
    if (chance(g, 0.7)) {
        put(g, " ");
        noun_phrase(g, depth + 1);
    }
    if (chance(g, 0.3)) {
        put(g, " ");
        put(g, PREP[below(g, COUNT(PREP))]);
        put(g, " ");
        noun_phrase(g, depth + 1);
    }
    if (chance(g, 0.12)) {
        put(g, " ");
        put(g, g->lx->adj[pick_adj(g)]);
        put(g, "ly");
    }
}

static void clause(gen *g)
{
    int plural, who = below(g, 10);
    if (who < 3) {
        put(g, g->p.name[below(g, 2)]);
        plural = 0;
    } else if (who < 4) {
        plural = chance(g, 0.5);
        put(g, plural ? "they" : chance(g, 0.5) ? "she" : "he");
    } else {
        plural = noun_phrase(g, 0);
        if (chance(g, 0.06)) {
            put(g, " (");
            noun_phrase(g, 1);
            put(g, ")");
        }
    }
    put(g, " ");
    verb_phrase(g, plural, 0);
    if (chance(g, 0.05)) {
        char year[16];
        snprintf(year, sizeof year, " in %d", 1000 + below(g, 1100));
        put(g, year);
    }
}

static void sentence(gen *g, int dialogue)
{
    int quoted = dialogue && chance(g, 0.5);
    if (quoted) {
        put(g, g->p.name[below(g, 2)]);
        put(g, g->p.past ? " said, \"" : " says, \"");
        g->w.cap_next = 1;
    }
    clause(g);
    if (chance(g, 0.25)) {
        put(g, CONJ[below(g, COUNT(CONJ))]);
        clause(g);
    }
    int end = below(g, 50);
    put(g, end < 45 ? "." : end < 48 ? "?" : "!");
    if (quoted)
        put(g, "\"");
}

static void code_block(gen *g)
{
    const lexicon *lx = g->lx;
    const char *f = lx->verb[pick_verb(g)], *a = lx->noun[pick_noun(g)],
               *b = lx->noun[pick_noun(g)], *c = lx->adj[pick_adj(g)];
    char line[160];
    snprintf(line, sizeof line, "def %s(%s, %s):\n    %s = %s + %d\n", f, a, b, c, a, below(g, 10));
    put(g, line);
    if (chance(g, 0.6)) {
        snprintf(line, sizeof line, "    if %s > %s:\n        return %s\n", c, b, c);
        put(g, line);
    }
    snprintf(line, sizeof line, "    return %s(%s, %s - 1)\n\n", f, b, c);
    put(g, line);
}

static void paragraph(gen *g)
{
    if (chance(g, 1.0 / 12)) {
        code_block(g);
        return;
    }
    for (int i = 0; i < TOPIC_N; i++)
        g->p.topic_n[i] = zipf(g, g->lx->cum_noun, N_NOUN);
    for (int i = 0; i < TOPIC_V; i++)
        g->p.topic_v[i] = zipf(g, g->lx->cum_verb, N_VERB);
    for (int i = 0; i < TOPIC_A; i++)
        g->p.topic_a[i] = zipf(g, g->lx->cum_adj, N_ADJ);
    for (int i = 0; i < 2; i++) {
        make_word(g, g->p.name[i], 2 + chance(g, 0.4));
        g->p.name[i][0] = (char)(g->p.name[i][0] - 'a' + 'A');
    }
    g->p.past = chance(g, 0.6);
    int dialogue = chance(g, 0.25), n = 3 + below(g, 6);
    for (int s = 0; s < n && !full(g); s++) {
        if (s)
            put(g, " ");
        g->w.cap_next = 1;
        sentence(g, dialogue);
    }
    put(g, "\n\n");
}

int nl_prose_generate(uint64_t seed, uint8_t *out, size_t n)
{
    gen g = {.w = {.out = out, .n = n}};
    g.lx = malloc(sizeof *g.lx);
    if (!g.lx)
        return -1;
    nl_rng_seed(&g.r, seed ^ 0x70726f7365ULL);
    make_class(&g, g.lx->noun, g.lx->cum_noun, N_NOUN);
    make_class(&g, g.lx->verb, g.lx->cum_verb, N_VERB);
    make_class(&g, g.lx->adj, g.lx->cum_adj, N_ADJ);
    while (!full(&g))
        paragraph(&g);
    free(g.lx);
    return 0;
}

double nl_unigram_entropy(const uint8_t *p, size_t n)
{
    uint64_t count[256] = {0};
    for (size_t i = 0; i < n; i++)
        count[p[i]]++;
    return nl_unigram_entropy_counts(count, n);
}

double nl_unigram_entropy_counts(const uint64_t count[256], uint64_t n)
{
    double h = 0;
    for (int c = 0; c < 256; c++)
        if (count[c]) {
            double q = (double)count[c] / (double)n;
            h -= q * log(q);
        }
    return h;
}
