/* The CPU backend's own float matrix product (gemm.h says what it computes).
 *
 * Why not BLAS for these shapes: a linear layer's product has one side of a few hundred (the
 * layer's width) and one of thousands (the tokens of a step). A BLAS library packs both
 * operands into its own layout on every call; with a side of 128 that copy costs 10-25% of the
 * multiply-adds, and with beta 0 it clears C in a separate pass first. Here A' is read where it
 * lies when it is a row-major A (the forward's and dX's activations), by scalar broadcasts;
 * B' is copied block by block (KC x NC, at most 512 KB) into panels of 32 columns, each read
 * in order by every 12-row strip of C; for trans_a (the weight gradient, where the rows of A'
 * are columns of a) A' is copied into strips too, MC rows at a time, since read in place its
 * rows would sit a row of a apart and evict each other in L1. C is written once per block of
 * k, never cleared first.
 *
 * The micro-kernel keeps a 12 x 32 tile of C in 24 AVX-512 registers over a block of k and
 * adds it to C at the end (or stores it, for the first block when beta is 0). Blocks: k in
 * runs of KC (the tile's 12 rows of A' stay in L1), n in runs of NC (the KC x NC block of B'
 * stays in L2); for each block every 12-row strip of C sweeps the block's columns. With
 * trans_a the runs of k are KC_TA: both operands then come through copies, and a tile's strip
 * and panel of half the length sit in L1 together (the step ~1% faster). */
#include "gemm.h"

#include "cpu.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int gemm_env_state = -1; /* -1 not read yet, else the answer */

int nl_gemm_f32_enabled(void)
{
    int s = __atomic_load_n(&gemm_env_state, __ATOMIC_RELAXED);
    if (s < 0) {
#if defined(__AVX512F__)
        const char *e = getenv("NORMLAB_GEMM");
        s = !(e && strcmp(e, "blas") == 0);
#else
        s = 0;
#endif
        __atomic_store_n(&gemm_env_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

#if defined(__AVX512F__)
#include <immintrin.h>

enum { MR = 12, NR = 32, KC = 256, KC_TA = 128, NC = 512, MC = 384 };

/* Lines to ask for while a tile computes, one a step of k: `n` lines, `per_row` consecutive
 * lines from each of the rows p, p + ld, p + 2 ld, ... (n 0: none). */
typedef struct {
    const char *p;
    int64_t ld;
    int per_row, n;
} ahead;

/* C[0..R, 0..32) (+)= sum over k < kc of A'(r,k) B'(k, .). B' is a packed panel (row k at
 * b + 32k); A' is a packed strip (TA 1: row k at a + MR*k) or read in place (TA 0: row r at
 * a + r*lda). Columns past the tile's width are masked off when C is written (m0: columns
 * 0-15, m1: 16-31). R and TA are constants in every instance, so the loops over r unroll and
 * the 2R sums stay in registers. */
static inline __attribute__((always_inline)) void tile(const int R, const int TA, const float *a,
                                                       int64_t lda, const float *b, float *c,
                                                       int64_t ldc, int kc, __mmask16 m0,
                                                       __mmask16 m1, int acc, const ahead *pf)
{
    __m512 c0[MR], c1[MR];
    const char *row = pf->p, *line = pf->p;
    int x = 0;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
        c0[r] = c1[r] = _mm512_setzero_ps();
    /* TA 0: row r of A' at at[r / 3] + (r % 3) lda, the four pointers stepped along k, so
     * that the 12 rows' addresses take five registers rather than twelve (with twelve the
     * loop kept some on the stack: the forward's and dX's products ran 3-5% slower); a
     * pointer only for rows the tile has */
    const float *at[4] = {a, !TA && R > 3 ? a + 3 * lda : a, !TA && R > 6 ? a + 6 * lda : a,
                          !TA && R > 9 ? a + 9 * lda : a};
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++, at[0]++, at[1]++, at[2]++, at[3]++) {
        if (k < pf->n) { /* one line of what comes next, a step */
            _mm_prefetch(line, _MM_HINT_T1);
            line += 64;
            if (++x == pf->per_row) {
                x = 0;
                row += pf->ld;
                line = row;
            }
        }
        __m512 b0 = _mm512_loadu_ps(b + NR * k);
        __m512 b1 = _mm512_loadu_ps(b + NR * k + 16);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(TA ? a[MR * k + r] : at[r / 3][(r % 3) * lda]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        float *cr = c + (int64_t)r * ldc;
        if (acc) {
            c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, cr));
            c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, c0[r]);
        _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
    }
}

typedef void (*tile_fn)(const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                        int kc, __mmask16 m0, __mmask16 m1, int acc, const ahead *pf);

#define NL_TILE(R, TA)                                                                     \
    static void tile_##TA##_##R(const float *a, int64_t lda, const float *b, float *c,     \
                                int64_t ldc, int kc, __mmask16 m0, __mmask16 m1, int acc,  \
                                const ahead *pf)                                           \
    {                                                                                      \
        tile(R, TA, a, lda, b, c, ldc, kc, m0, m1, acc, pf);                               \
    }
#define NL_TILES(TA)                                                                        \
    NL_TILE(1, TA) NL_TILE(2, TA) NL_TILE(3, TA) NL_TILE(4, TA) NL_TILE(5, TA) NL_TILE(6, TA) \
    NL_TILE(7, TA) NL_TILE(8, TA) NL_TILE(9, TA) NL_TILE(10, TA) NL_TILE(11, TA)            \
    NL_TILE(12, TA)
NL_TILES(0)
NL_TILES(1)
#undef NL_TILES
#undef NL_TILE

static const tile_fn tiles[2][MR + 1] = {
    {NULL, tile_0_1, tile_0_2, tile_0_3, tile_0_4, tile_0_5, tile_0_6, tile_0_7, tile_0_8,
     tile_0_9, tile_0_10, tile_0_11, tile_0_12},
    {NULL, tile_1_1, tile_1_2, tile_1_3, tile_1_4, tile_1_5, tile_1_6, tile_1_7, tile_1_8,
     tile_1_9, tile_1_10, tile_1_11, tile_1_12},
};

static inline __mmask16 cols_mask(int w)
{
    return w >= 16 ? (__mmask16)0xFFFF : w <= 0 ? (__mmask16)0 : (__mmask16)((1u << w) - 1);
}

/* One product's operands: A'(m,k) and B'(k,n) as gemm.h defines them. */
typedef struct {
    const float *a, *b;
    int64_t lda, ldb;
    int ta, tb;
} operands;

/* Panels of B'[k0 .. k0+kc, n0 .. n0+nc): panel p holds columns n0+32p .. +32 as kc rows of
 * 32 floats, zero past column N. Rows of B' are contiguous unless tb, when its columns are. */
static void pack_b(float *bp, const operands *o, int k0, int kc, int n0, int nc)
{
    for (int p = 0; p * NR < nc; p++) {
        float *dst = bp + (int64_t)p * NR * kc;
        int w = nc - p * NR < NR ? nc - p * NR : NR;
        __mmask16 m0 = cols_mask(w), m1 = cols_mask(w - 16);
        if (o->tb) { /* column k of the panel is a piece of row k of b: two gathers a row */
            const float *src = o->b + (int64_t)(n0 + p * NR) * o->ldb + k0;
            __m512i idx = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32((int)o->ldb));
            const float *src1 = m1 ? src + 16 * o->ldb : src;
            for (int k = 0; k < kc; k++) {
                __m512 z = _mm512_setzero_ps();
                _mm512_storeu_ps(dst + NR * k, _mm512_mask_i32gather_ps(z, m0, idx, src + k, 4));
                _mm512_storeu_ps(dst + NR * k + 16,
                                 _mm512_mask_i32gather_ps(z, m1, idx, src1 + k, 4));
            }
            continue;
        }
        for (int k = 0; k < kc; k++) {
            const float *src = o->b + (int64_t)(k0 + k) * o->ldb + n0 + p * NR;
            _mm512_storeu_ps(dst + NR * k, _mm512_maskz_loadu_ps(m0, src));
            _mm512_storeu_ps(dst + NR * k + 16, _mm512_maskz_loadu_ps(m1, src + 16));
        }
    }
}

/* Strips of A'[m0 .. m0+mc, k0 .. k0+kc) for trans_a, where a row of A' is a column of a:
 * strip s holds rows m0+12s .. +12 as kc runs of 12 floats (each a piece of one row of a). */
static void pack_a(float *ap, const operands *o, int m0, int mc, int k0, int kc)
{
    for (int s = 0; s * MR < mc; s++) {
        float *dst = ap + (int64_t)s * MR * kc;
        __mmask16 m = cols_mask(mc - s * MR < MR ? mc - s * MR : MR);
        const float *src = o->a + (int64_t)k0 * o->lda + m0 + s * MR;
        for (int k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(dst + MR * k, m, _mm512_maskz_loadu_ps(m, src + k * o->lda));
    }
}

/* Where a sweep stands in the product: its block of k and n, and for trans_a how many rows
 * of the next block of k to ask for (0: none) and this sweep's share of them. */
typedef struct {
    int k0, kc, n0, nc, acc, last;
    int next_kc, share0, share1;
} block;

/* What the tile call for panel p of strip s asks for. With trans_a: one column of lines (16
 * floats wide) of the next block's rows of A, then of B, a column a call. Else: the next
 * strip's rows of A over this block of k, shared out over the strip's panels. */
static ahead look_ahead(const operands *o, const block *bk, int M, int m0, int mc, int s,
                        int panels, int p)
{
    ahead h = {NULL, 0, 1, 0};
    if (o->ta) {
        int cols_a = (M + 15) / 16, cols_b = o->tb ? 0 : (bk->nc + 15) / 16;
        int col = s * panels + p;
        if (bk->next_kc <= 0 || col >= cols_a + cols_b)
            return h;
        int64_t k1 = bk->k0 + bk->kc + bk->share0;
        const float *base = col < cols_a ? o->a + k1 * o->lda + 16 * col
                                         : o->b + k1 * o->ldb + bk->n0 + 16 * (col - cols_a);
        h.p = (const char *)base;
        h.ld = (int64_t)sizeof(float) * (col < cols_a ? o->lda : o->ldb);
        h.n = bk->share1 - bk->share0;
        return h;
    }
    int next = m0 + (s + 1) * MR, left = m0 + mc - next;
    if (left <= 0)
        return h;
    int rows = left < MR ? left : MR, per_call = (rows + panels - 1) / panels;
    int r0 = p * per_call, r1 = r0 + per_call < rows ? r0 + per_call : rows;
    if (r0 >= r1)
        return h;
    h.p = (const char *)(o->a + (int64_t)(next + r0) * o->lda + bk->k0);
    h.ld = (int64_t)sizeof(float) * o->lda;
    h.per_row = (bk->kc + 15) / 16;
    h.n = (r1 - r0) * h.per_row;
    return h;
}

/* Every 12-row strip of C[m0 .. m0+mc, n0 .. n0+nc) over the block's k, from the packed
 * panels bp and, for trans_a, the packed strips ap. While a tile computes it asks for what
 * is needed next (look_ahead): a step's activations far exceed the caches, and the copies
 * into panels and strips, or the next strip's reads, would otherwise wait on memory. */
static void sweep(float *c, int64_t ldc, const operands *o, const float *ap, const float *bp,
                  int m0, int mc, int M, const block *bk, const nl_gemm_ep *ep)
{
    int strips = (mc + MR - 1) / MR, panels = (bk->nc + NR - 1) / NR;
    for (int s = 0; s < strips; s++) {
        int m = m0 + s * MR, R = mc - s * MR < MR ? mc - s * MR : MR;
        const float *ab = o->ta ? ap + (int64_t)s * MR * bk->kc
                                : o->a + (int64_t)m * o->lda + bk->k0;
        tile_fn f = tiles[o->ta][R];
        for (int p = 0; p < panels; p++) {
            int j = p * NR;
            ahead h = look_ahead(o, bk, M, m0, mc, s, panels, p);
            for (int r = 0; r < R; r++) { /* C's lines, for writing, while the tile sums */
                __builtin_prefetch(c + (int64_t)(m + r) * ldc + bk->n0 + j, 1, 3);
                __builtin_prefetch(c + (int64_t)(m + r) * ldc + bk->n0 + j + 16, 1, 3);
            }
            /* the block of the step's operand, where this block of k is the last */
            float *eb = ep && bk->last ? ep->e + (int64_t)m * ep->lde + bk->n0 + j : NULL;
            for (int r = 0; eb && !ep->e_streamed && r < R; r++) { /* its lines too */
                __builtin_prefetch(eb + (int64_t)r * ep->lde, 1, 3);
                __builtin_prefetch(eb + (int64_t)r * ep->lde + 16, 1, 3);
            }
            float *cb = c + (int64_t)m * ldc + bk->n0 + j;
            f(ab, o->lda, bp + (int64_t)j * bk->kc, cb, ldc, bk->kc, cols_mask(bk->nc - j),
              cols_mask(bk->nc - j - 16), bk->acc, &h);
            if (eb) /* the block is final: its step, while it is in L1 */
                ep->fn(cb, ldc, eb, ep->lde, R, bk->nc - j < NR ? bk->nc - j : NR);
        }
    }
}

/* Each thread's panels and strips (cpu.h nl_cpu_scratch: allocated once, a step allocates
 * nothing). */
enum { WS_B = KC * NC, WS_A = KC * MC, WS_FLOATS = WS_B + WS_A };

int nl_gemm_f32(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                int trans_b, int lda, int ldb, int ldc, float alpha, float beta)
{
    return nl_gemm_f32_ep(c, a, b, M, N, K, trans_a, trans_b, lda, ldb, ldc, alpha, beta, NULL);
}

int nl_gemm_f32_ep(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                   int trans_b, int lda, int ldb, int ldc, float alpha, float beta,
                   const nl_gemm_ep *ep)
{
    if (!nl_gemm_f32_enabled() || alpha != 1.0f || (beta != 0.0f && beta != 1.0f) || M < 16 ||
        N < 16 || K < 16)
        return 0;
    /* Rows of A read in place 4 KB apart (or a multiple) fall into the same few L1 sets and
     * evict each other; BLAS, which packs them, is faster there. */
    if (!trans_a && lda % 1024 == 0)
        return 0;
    if (trans_b && (int64_t)ldb * NR > INT32_MAX) /* the gathers' offsets are 32-bit */
        return 0;
    float *bp = nl_cpu_scratch(NL_SCRATCH_GEMM, WS_FLOATS);
    if (!bp)
        return 0;
    float *ap = bp + WS_B;
    operands o = {a, b, lda, ldb, trans_a != 0, trans_b != 0};
    int mchunk = o.ta ? MC : M; /* in place, A' needs no strips: one sweep of all rows */
    int kcb = o.ta ? KC_TA : KC;
    for (int k0 = 0; k0 < K; k0 += kcb) {
        block bk = {.k0 = k0, .kc = K - k0 < kcb ? K - k0 : kcb, .acc = k0 > 0 || beta != 0};
        bk.last = k0 + bk.kc >= K;
        int next = K - k0 - bk.kc < kcb ? K - k0 - bk.kc : kcb;
        for (int n0 = 0; n0 < N; n0 += NC) {
            bk.n0 = n0;
            bk.nc = N - n0 < NC ? N - n0 : NC;
            bk.next_kc = n0 + bk.nc >= N ? next : 0;
            pack_b(bp, &o, k0, bk.kc, n0, bk.nc);
            for (int m0 = 0; m0 < M; m0 += mchunk) {
                int mc = M - m0 < mchunk ? M - m0 : mchunk;
                bk.share0 = (int)((int64_t)next * m0 / M);
                bk.share1 = (int)((int64_t)next * (m0 + mc) / M);
                if (o.ta)
                    pack_a(ap, &o, m0, mc, k0, bk.kc);
                sweep(c, ldc, &o, ap, bp, m0, mc, M, &bk, ep);
            }
        }
    }
    return 1;
}

#else /* no AVX-512 in this build: every product goes to BLAS */

int nl_gemm_f32(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                int trans_b, int lda, int ldb, int ldc, float alpha, float beta)
{
    (void)c, (void)a, (void)b, (void)M, (void)N, (void)K, (void)trans_a, (void)trans_b;
    (void)lda, (void)ldb, (void)ldc, (void)alpha, (void)beta;
    return 0;
}

int nl_gemm_f32_ep(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                   int trans_b, int lda, int ldb, int ldc, float alpha, float beta,
                   const nl_gemm_ep *ep)
{
    (void)ep;
    return nl_gemm_f32(c, a, b, M, N, K, trans_a, trans_b, lda, ldb, ldc, alpha, beta);
}

#endif
