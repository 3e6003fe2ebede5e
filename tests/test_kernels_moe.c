/* The CPU kernels of the mixture of experts: router top-k, its losses and backward, dispatch,
 * gather and scatter; checked as in test_kernels.c. */
#include "kernels_t.h"

/* ---------------------------------------------------------------- mixture of experts ---- */

static void test_router_topk(void)
{
    int N = 4, E = 6, K = 3;
    double lg[24];
    fill(lg, N * E, -2, 2);
    lg[1 * E + 2] = lg[1 * E + 4] = 5; /* a tie for the top: lower index first */
    lg[2 * E + 0] = lg[2 * E + 5] = -9; /* a tie at the bottom */
    for (int renorm = 0; renorm < 2; renorm++) {
        double probs[24], gates[12];
        int32_t idx[12];
        d_router_topk(NULL, probs, idx, gates, lg, N, E, K, renorm);
        for (int n = 0; n < N; n++) {
            double s = 0, p[6];
            for (int e = 0; e < E; e++)
                s += exp(lg[n * E + e]);
            for (int e = 0; e < E; e++) {
                p[e] = exp(lg[n * E + e]) / s;
                T_NEAR(probs[n * E + e], p[e], 1e-14, "probs");
            }
            int used[6] = {0}, want[3];
            double gsum = 0;
            for (int j = 0; j < K; j++) { /* selection written out: best unused, low index on ties */
                int b = 0;
                while (used[b])
                    b++;
                for (int e = b + 1; e < E; e++)
                    if (!used[e] && p[e] > p[b])
                        b = e;
                used[b] = 1;
                want[j] = b;
                gsum += p[b];
            }
            for (int j = 0; j < K; j++) {
                T_CHECK(idx[n * K + j] == want[j], "row %d slot %d: expert %d, expected %d", n,
                        j, idx[n * K + j], want[j]);
                T_NEAR(gates[n * K + j], p[want[j]] / (renorm ? gsum : 1), 1e-14, "gate");
            }
        }
        T_CHECK(idx[1 * K + 0] == 2 && idx[1 * K + 1] == 4, "tie broken as %d, %d", idx[K],
                idx[K + 1]);
    }
}

/* A direct transcription of the comment in kernels.h. */
static void router_losses_direct(double out[2], const double *probs, const double *logits,
                                 const int32_t *idx, int N, int E, int K)
{
    double aux = 0, z = 0;
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        double P = 0;
        for (int s = 0; s < N * K; s++)
            cnt += idx[s] == e;
        for (int n = 0; n < N; n++)
            P += probs[n * E + e];
        aux += ((double)cnt / (N * K)) * (P / N);
    }
    for (int n = 0; n < N; n++) {
        double s = exp(logits[n * E]);
        for (int e = 1; e < E; e++)
            s += exp(logits[n * E + e]);
        z += log(s) * log(s);
    }
    out[0] = E * aux;
    out[1] = z / N;
}

static void test_router_losses(void)
{
    int N = 7, E = 5, K = 2;
    double lg[35], probs[35], gates[14], out[2], want[2];
    int32_t idx[14];
    fill(lg, N * E, -3, 3);
    d_router_topk(NULL, probs, idx, gates, lg, N, E, K, 0);
    d_router_losses(NULL, out, probs, lg, idx, N, E, K);
    router_losses_direct(want, probs, lg, idx, N, E, K);
    T_NEAR(out[0], want[0], 1e-13, "aux");
    T_NEAR(out[1], want[1], 1e-13, "z");
    float flg[35], fprobs[35], fgates[14], fout[2];
    int32_t fidx[14];
    for (int i = 0; i < N * E; i++)
        flg[i] = (float)lg[i];
    kf->router_topk(kf, fprobs, fidx, fgates, flg, N, E, K, 0);
    kf->router_losses(kf, fout, fprobs, flg, fidx, N, E, K);
    T_CHECK(!memcmp(fidx, idx, sizeof idx), "f32 router_topk chose other experts");
    T_NEAR(fout[0], want[0], F32_TOL, "f32 aux");
    T_NEAR(fout[1], want[1], F32_TOL, "f32 z");
}

typedef struct {
    int N, E, K, renorm, changed;
    double aux_coef, z_coef;
    double *logits, *dgates, *probs, *gates;
    int32_t *idx0, *idx;
} router_ctx;

/* sum dgates * gates + aux_coef * aux + z_coef * z, with f_e from the unperturbed routing. */
static double router_loss(void *p)
{
    router_ctx *c = p;
    double l[2];
    d_router_topk(NULL, c->probs, c->idx, c->gates, c->logits, c->N, c->E, c->K, c->renorm);
    c->changed |= memcmp(c->idx, c->idx0, sizeof(int32_t) * (size_t)(c->N * c->K)) != 0;
    d_router_losses(NULL, l, c->probs, c->logits, c->idx0, c->N, c->E, c->K);
    return wsum(c->dgates, c->gates, c->N * c->K) + c->aux_coef * l[0] + c->z_coef * l[1];
}

static void test_router_backward_grad(void)
{
    int N = 6, E = 5, K = 2;
    for (int renorm = 0; renorm < 2; renorm++) {
        router_ctx c = {N, E, K, renorm, 0, 0.7, 0.3, dnew(N * E), dnew(N * K), dnew(N * E),
                        dnew(N * K), calloc((size_t)(N * K), 4), calloc((size_t)(N * K), 4)};
        /* each row a shuffle of 0, 0.6, 1.2, ... plus noise: the top-k order has gaps far
         * wider than the finite-difference step */
        for (int n = 0; n < N; n++)
            for (int e = 0; e < E; e++)
                c.logits[n * E + (e * 3 + n) % E] = 0.6 * e + 0.1 * urand();
        fill(c.dgates, N * K, -1, 1);
        d_router_topk(NULL, c.probs, c.idx0, c.gates, c.logits, N, E, K, renorm);
        double *dl = dnew(N * E), *g = dnew(N * E);
        fill_nan(dl, N * E);
        d_router_backward(NULL, dl, c.dgates, c.probs, c.logits, c.idx0, c.gates, N, E, K,
                          renorm, c.aux_coef, c.z_coef);
        fd_grad(router_loss, &c, c.logits, N * E, g);
        T_CHECK(!c.changed, "the top-k choice moved under the perturbation");
        check_vec(renorm ? "dlogits (renorm)" : "dlogits", dl, g, N * E, GRAD_TOL);

        /* the float table on the same inputs */
        float *fl = fcopy(c.logits, N * E), *fdg = fcopy(c.dgates, N * K), *fp = fnew(N * E),
              *fg = fnew(N * K), *fdl = fnew(N * E);
        int32_t *fidx = calloc((size_t)(N * K), 4);
        kf->router_topk(kf, fp, fidx, fg, fl, N, E, K, renorm);
        kf->router_backward(kf, fdl, fdg, fp, fl, fidx, fg, N, E, K, renorm, 0.7f, 0.3f);
        check_vecf("f32 dlogits", fdl, dl, N * E, F32_TOL);
        free(c.logits), free(c.dgates), free(c.probs), free(c.gates), free(c.idx0), free(c.idx);
        free(dl), free(g), free(fl), free(fdg), free(fp), free(fg), free(fdl), free(fidx);
    }
}

static void test_router_large(void)
{
    int N = 4096, E = 16, K = 2;
    int64_t ne = (int64_t)N * E, nk = (int64_t)N * K;
    double *lg = dnew(ne), *dg = dnew(nk);
    fill(lg, ne, -4, 4);
    fill(dg, nk, -1, 1);
    double *p[2], *gt[2], *dl[2];
    int32_t *ix[2];
    for (int r = 0; r < 2; r++) {
        p[r] = dnew(ne), gt[r] = dnew(nk), dl[r] = dnew(ne), ix[r] = calloc((size_t)nk, 4);
        dthreads(r ? 3 : 1);
        d_router_topk(NULL, p[r], ix[r], gt[r], lg, N, E, K, 1);
        d_router_backward(NULL, dl[r], dg, p[r], lg, ix[r], gt[r], N, E, K, 1, 0.01, 0.001);
    }
    T_CHECK(!memcmp(ix[0], ix[1], sizeof(int32_t) * (size_t)nk), "parallel top-k differs");
    check_vec("parallel probs", p[1], p[0], ne, PAR_TOL);
    check_vec("parallel gates", gt[1], gt[0], nk, PAR_TOL);
    check_vec("parallel dlogits", dl[1], dl[0], ne, PAR_TOL);
    float *fl = fcopy(lg, ne), *fdg = fcopy(dg, nk), *fp = fnew(ne), *fg = fnew(nk),
          *fdl = fnew(ne), *fdl2 = fnew(ne), fo[2], fo2[2];
    int32_t *fix = calloc((size_t)nk, 4);
    double want[2];
    kf->router_topk(kf, fp, fix, fg, fl, N, E, K, 1);
    kf->router_backward(kf, fdl, fdg, fp, fl, fix, fg, N, E, K, 1, 0.01f, 0.001f);
    kf->router_backward(kf, fdl2, fdg, fp, fl, fix, fg, N, E, K, 1, 0.01f, 0.001f);
    kf->router_losses(kf, fo, fp, fl, fix, N, E, K);
    kf->router_losses(kf, fo2, fp, fl, fix, N, E, K);
    router_losses_direct(want, p[0], lg, ix[0], N, E, K);
    int moved = 0; /* float rounding may swap near-ties; compare only where it did not */
    for (int64_t i = 0; i < nk; i++)
        moved += fix[i] != ix[0][i];
    T_CHECK(moved < 8, "f32 top-k differs in %d of %lld slots", moved, (long long)nk);
    if (!moved) {
        check_vecf("f32 gates", fg, gt[0], nk, F32_TOL);
        check_vecf("f32 dlogits", fdl, dl[0], ne, F32_TOL);
        T_NEAR(fo[0], want[0], F32_TOL, "f32 aux");
    }
    check_vecf("f32 probs", fp, p[0], ne, F32_TOL);
    T_NEAR(fo[1], want[1], F32_TOL, "f32 z");
    check_same("f32 dlogits", fdl, fdl2, sizeof(float) * (size_t)ne);
    check_same("f32 router_losses", fo, fo2, sizeof fo);
    for (int r = 0; r < 2; r++)
        free(p[r]), free(gt[r]), free(dl[r]), free(ix[r]);
    free(lg), free(dg), free(fl), free(fdg), free(fp), free(fg), free(fdl), free(fdl2), free(fix);
}

static void test_moe_dispatch(void)
{
    int N = 9, E = 5, K = 2;
    int32_t idx[18], off[6], rows[18], slots[18];
    for (int n = 0; n < N; n++) { /* expert 3 gets nothing */
        idx[n * K] = (int32_t)((n * 7) % 3);
        idx[n * K + 1] = n % 2 ? 4 : (int32_t)((n * 7) % 3 + 1) % 3;
    }
    d_moe_dispatch(NULL, off, rows, slots, idx, N, E, K);
    int pos = 0;
    for (int e = 0; e < E; e++) {
        T_CHECK(off[e] == pos, "offsets[%d] = %d, expected %d", e, off[e], pos);
        for (int s = 0; s < N * K; s++)
            if (idx[s] == e) {
                T_CHECK(slots[pos] == s && rows[pos] == s / K,
                        "position %d: slot %d row %d, expected slot %d row %d", pos, slots[pos],
                        rows[pos], s, s / K);
                pos++;
            }
    }
    T_CHECK(off[E] == N * K && off[3] == off[4], "offsets[E] = %d, expert 3 [%d, %d)", off[E],
            off[3], off[4]);
    int32_t foff[6], frows[18], fslots[18];
    kf->moe_dispatch(kf, foff, frows, fslots, idx, N, E, K);
    T_CHECK(!memcmp(foff, off, sizeof off) && !memcmp(frows, rows, sizeof rows) &&
                !memcmp(fslots, slots, sizeof slots),
            "f32 table dispatch differs");
}

static void check_gather_scatter(int M, int N, int C)
{
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)M);
    for (int m = 0; m < M; m++) /* repeated rows, and some rows never hit */
        rows[m] = (int32_t)((m * 5 + m / 3) % (N > 2 ? N - 2 : 1));
    double *inp = dnew((int64_t)N * C), *x = dnew((int64_t)M * C), *w = dnew(M);
    double *out0 = dnew((int64_t)N * C);
    fill(inp, (int64_t)N * C, -1, 1);
    fill(x, (int64_t)M * C, -1, 1);
    fill(w, M, -2, 2);
    fill(out0, (int64_t)N * C, -1, 1);

    double *g = dnew((int64_t)M * C), *want_g = dnew((int64_t)M * C), *dots = dnew(M);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++)
            want_g[(int64_t)m * C + c] = inp[(int64_t)rows[m] * C + c];
    dthreads(3);
    d_gather_rows(NULL, g, inp, rows, M, C);
    check_vec("gather_rows", g, want_g, (int64_t)M * C, 0);

    for (int weighted = 0; weighted < 2; weighted++) {
        double *want = dcopy(out0, (int64_t)N * C), *got1 = dcopy(out0, (int64_t)N * C),
               *got3 = dcopy(out0, (int64_t)N * C);
        for (int r = 0; r < N; r++) /* explicit sums, in increasing m */
            for (int c = 0; c < C; c++)
                for (int m = 0; m < M; m++)
                    if (rows[m] == r)
                        want[(int64_t)r * C + c] += (weighted ? w[m] : 1) * x[(int64_t)m * C + c];
        dthreads(1);
        d_scatter_add_rows(NULL, got1, x, rows, weighted ? w : NULL, M, C);
        dthreads(3);
        d_scatter_add_rows(NULL, got3, x, rows, weighted ? w : NULL, M, C);
        check_vec("scatter_add_rows", got1, want, (int64_t)N * C, 1e-15);
        check_same("scatter_add_rows parallel", got3, got1, sizeof(double) * (size_t)N * C);
        float *fo = fcopy(out0, (int64_t)N * C), *fo2 = fcopy(out0, (int64_t)N * C),
              *fx = fcopy(x, (int64_t)M * C), *fw = fcopy(w, M);
        kf->scatter_add_rows(kf, fo, fx, rows, weighted ? fw : NULL, M, C);
        kf->scatter_add_rows(kf, fo2, fx, rows, weighted ? fw : NULL, M, C);
        check_vecf("f32 scatter_add_rows", fo, want, (int64_t)N * C, F32_TOL);
        check_same("f32 scatter_add_rows", fo, fo2, sizeof(float) * (size_t)N * C);
        free(want), free(got1), free(got3), free(fo), free(fo2), free(fx), free(fw);
    }

    d_row_dot(NULL, dots, x, g, M, C);
    for (int m = 0; m < M; m++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += x[(int64_t)m * C + c] * g[(int64_t)m * C + c];
        T_NEAR(dots[m], s, 1e-13, "row_dot");
    }
    float *fx = fcopy(x, (int64_t)M * C), *finp = fcopy(inp, (int64_t)N * C),
          *fg = fnew((int64_t)M * C), *fdots = fnew(M);
    kf->gather_rows(kf, fg, finp, rows, M, C);
    check_vecf("f32 gather_rows", fg, want_g, (int64_t)M * C, 1e-7);
    kf->row_dot(kf, fdots, fx, fg, M, C);
    check_vecf("f32 row_dot", fdots, dots, M, F32_TOL);
    free(rows), free(inp), free(x), free(w), free(out0), free(g), free(want_g), free(dots);
    free(fx), free(finp), free(fg), free(fdots);
}

static void test_gather_scatter_rowdot(void)
{
    check_gather_scatter(11, 7, 5);      /* serial */
    check_gather_scatter(700, 300, 130); /* parallel, uneven column blocks */
}

int main(void)
{
    kf = nl_kernels_cpu_create(3); /* three threads: uneven splits on purpose */
    if (!kf) {
        printf("FAIL create: nl_kernels_cpu_create returned NULL\n");
        return 1;
    }
    T_RUN(test_router_topk);
    T_RUN(test_router_losses);
    T_RUN(test_router_backward_grad);
    T_RUN(test_router_large);
    T_RUN(test_moe_dispatch);
    T_RUN(test_gather_scatter_rowdot);
    kf->destroy(kf);
    T_END();
}
