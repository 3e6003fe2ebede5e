/* Row moves: gather_rows, scatter_add_rows, embed_backward (a scatter-add by token), row_dot.
 *
 * A scatter-add must give the same bits every run and add each destination row's
 * contributions in increasing source order. So the sources are stably sorted by destination
 * (sort.cu); the first sorted position of each destination starts a block that walks its run
 * of sources in order, one thread per column, keeping the running sum in a register exactly
 * as out[row] += w[m] * inp[m] in a loop over m would. */
#include "nlcuda.h"
#include "reduce.cuh"

#define SCATTER_COLS 128 /* columns per block of the scatter kernel */

template <int V>
__global__ void gather_kernel(float *out, const float *inp, const int32_t *rows, int M, int C)
{
    int cv = C / V;
    int64_t n = (int64_t)M * cv;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int m = (int)(i / cv), c = (int)(i % cv) * V;
        const float *src = inp + (int64_t)rows[m] * C + c;
        float *dst = out + (int64_t)m * C + c;
        if (V == 4)
            *(float4 *)dst = *(const float4 *)src;
        else
            *dst = *src;
    }
}

static void cu_gather_rows(nl_kernels *k, float *out, const float *inp, const int32_t *rows, int M,
                           int C)
{
    int64_t n = (int64_t)M * C;
    if (n <= 0)
        return;
    if (C % 4 == 0 && cu_aligned16(out, inp))
        gather_kernel<4><<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>(out, inp, rows, M, C);
    else
        gather_kernel<1><<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>(out, inp, rows, M, C);
    cu_check_launch(k, "gather_rows");
}

/* Block (i, y): if sorted position i starts a run of destination `row`, add the run's sources
 * to out[row] for the columns of slice y. */
__global__ void scatter_runs_kernel(float *out, const float *inp, const float *w,
                                    const int32_t *sorted_rows, const int32_t *order, int M, int C)
{
    int i = blockIdx.x;
    int row = sorted_rows[i];
    if (i > 0 && sorted_rows[i - 1] == row)
        return;
    int c = blockIdx.y * SCATTER_COLS + threadIdx.x;
    if (c >= C)
        return;
    float *o = out + (int64_t)row * C + c;
    float acc = *o;
    for (int j = i; j < M && sorted_rows[j] == row; j++) {
        int m = order[j];
        float x = inp[(int64_t)m * C + c];
        acc += w ? w[m] * x : x;
    }
    *o = acc;
}

/* out (N,C) += scattered inp (M,C). N bounds the row indices (for the sort's key width). */
static void scatter_add(nl_kernels *k, float *out, const float *inp, const int32_t *rows,
                        const float *w, int M, int C, int N, const char *name)
{
    if (M <= 0 || C <= 0)
        return;
    void *mem = cu_scratch(k, cu_sort_bytes(M, N));
    int32_t *sorted_rows, *order;
    if (!mem || cu_sort_keys(k, mem, rows, M, N, &sorted_rows, &order))
        return;
    dim3 grid(M, (C + SCATTER_COLS - 1) / SCATTER_COLS);
    scatter_runs_kernel<<<grid, SCATTER_COLS, 0, cu_stream(k)>>>(out, inp, w, sorted_rows, order, M,
                                                                 C);
    cu_check_launch(k, name);
}

static void cu_scatter_add_rows(nl_kernels *k, float *out, const float *inp, const int32_t *rows,
                                const float *w, int M, int C)
{
    /* N is not passed: the full 31-bit key width sorts any valid row index */
    scatter_add(k, out, inp, rows, w, M, C, INT32_MAX, "scatter_add_rows");
}

/* dwpe (T,C) += sum over b in order of dout[b,t]. */
__global__ void embed_pos_backward_kernel(float *dwpe, const float *dout, int B, int T, int C)
{
    int64_t n = (int64_t)T * C;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++)
            acc += dout[(int64_t)b * n + i];
        dwpe[i] = acc;
    }
}

static void cu_embed_backward(nl_kernels *k, float *dwte, float *dwpe, const float *dout,
                              const int32_t *tokens, int B, int T, int C)
{
    if (B <= 0 || T <= 0 || C <= 0)
        return;
    scatter_add(k, dwte, dout, tokens, NULL, B * T, C, INT32_MAX, "embed_backward");
    if (dwpe) {
        embed_pos_backward_kernel<<<cu_grid((int64_t)T * C, 256, 1), 256, 0, cu_stream(k)>>>(
            dwpe, dout, B, T, C);
        cu_check_launch(k, "embed_backward");
    }
}

/* One warp per row. */
__global__ void row_dot_kernel(float *dots, const float *a, const float *b, int M, int C)
{
    int m = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (m >= M)
        return;
    const float *x = a + (int64_t)m * C, *y = b + (int64_t)m * C;
    float acc = 0.f;
    for (int c = lane; c < C; c += 32)
        acc += x[c] * y[c];
    acc = warp_sum(acc);
    if (lane == 0)
        dots[m] = acc;
}

static void cu_row_dot(nl_kernels *k, float *dots, const float *a, const float *b, int M, int C)
{
    if (M <= 0)
        return;
    row_dot_kernel<<<(M + 7) / 8, 256, 0, cu_stream(k)>>>(dots, a, b, M, C);
    cu_check_launch(k, "row_dot");
}

void cu_fill_rows(nl_kernels *k)
{
    k->gather_rows = cu_gather_rows;
    k->scatter_add_rows = cu_scatter_add_rows;
    k->embed_backward = cu_embed_backward;
    k->row_dot = cu_row_dot;
}
