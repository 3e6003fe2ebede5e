/* Elementwise ops: the embedding lookup, GELU, SwiGLU, axpy, add_scaled. Memory-bound, so each
 * thread moves float4s (when every pointer is 16-byte aligned) in a grid-stride loop; a scalar
 * loop takes the tail and misaligned calls. */
#include "nlcuda.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* Each op is a functor: f(i) does element i, f.v4(i) elements i..i+3 with float4 accesses. */
struct gelu_fwd {
    float *out;
    const float *x;
    __device__ void operator()(int64_t i) const
    {
        float xi = x[i];
        float u = GELU_K * (xi + GELU_A * xi * xi * xi);
        out[i] = 0.5f * xi * (1.f + tanhf(u));
    }
    __device__ void v4(int64_t i) const
    {
        float4 a = *(const float4 *)(x + i), r;
        float *pa = &a.x, *pr = &r.x;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float xi = pa[j];
            float u = GELU_K * (xi + GELU_A * xi * xi * xi);
            pr[j] = 0.5f * xi * (1.f + tanhf(u));
        }
        *(float4 *)(out + i) = r;
    }
};

__device__ __forceinline__ float gelu_grad(float xi, float d)
{
    float u = GELU_K * (xi + GELU_A * xi * xi * xi);
    float th = tanhf(u);
    float du = GELU_K * (1.f + 3.f * GELU_A * xi * xi);
    return d * (0.5f * (1.f + th) + 0.5f * xi * (1.f - th * th) * du);
}

struct gelu_bwd {
    float *dx;
    const float *x, *dout;
    __device__ void operator()(int64_t i) const { dx[i] = gelu_grad(x[i], dout[i]); }
    __device__ void v4(int64_t i) const
    {
        float4 a = *(const float4 *)(x + i), d = *(const float4 *)(dout + i), r;
        r.x = gelu_grad(a.x, d.x);
        r.y = gelu_grad(a.y, d.y);
        r.z = gelu_grad(a.z, d.z);
        r.w = gelu_grad(a.w, d.w);
        *(float4 *)(dx + i) = r;
    }
};

__device__ __forceinline__ float sigmoidf(float g)
{
    return 1.f / (1.f + expf(-g));
}

struct swiglu_fwd {
    float *out;
    const float *gate, *up;
    __device__ void operator()(int64_t i) const
    {
        float g = gate[i];
        out[i] = g * sigmoidf(g) * up[i];
    }
    __device__ void v4(int64_t i) const
    {
        float4 g = *(const float4 *)(gate + i), u = *(const float4 *)(up + i), r;
        r.x = g.x * sigmoidf(g.x) * u.x;
        r.y = g.y * sigmoidf(g.y) * u.y;
        r.z = g.z * sigmoidf(g.z) * u.z;
        r.w = g.w * sigmoidf(g.w) * u.w;
        *(float4 *)(out + i) = r;
    }
};

/* silu'(g) = s (1 + g (1 - s)), s = sigmoid(g). */
struct swiglu_bwd {
    float *dgate, *dup;
    const float *gate, *up, *dout;
    __device__ void one(float g, float u, float d, float &dg, float &du) const
    {
        float s = sigmoidf(g);
        dg = d * u * s * (1.f + g * (1.f - s));
        du = d * g * s;
    }
    __device__ void operator()(int64_t i) const { one(gate[i], up[i], dout[i], dgate[i], dup[i]); }
    __device__ void v4(int64_t i) const
    {
        float4 g = *(const float4 *)(gate + i), u = *(const float4 *)(up + i),
               d = *(const float4 *)(dout + i), rg, ru;
        one(g.x, u.x, d.x, rg.x, ru.x);
        one(g.y, u.y, d.y, rg.y, ru.y);
        one(g.z, u.z, d.z, rg.z, ru.z);
        one(g.w, u.w, d.w, rg.w, ru.w);
        *(float4 *)(dgate + i) = rg;
        *(float4 *)(dup + i) = ru;
    }
};

/* out = alpha * a + b (axpy is out = y, a = x, b = y). */
struct add_scaled_op {
    float *out;
    const float *a, *b;
    float alpha;
    __device__ void operator()(int64_t i) const { out[i] = alpha * a[i] + b[i]; }
    __device__ void v4(int64_t i) const
    {
        float4 x = *(const float4 *)(a + i), y = *(const float4 *)(b + i);
        *(float4 *)(out + i) =
            make_float4(alpha * x.x + y.x, alpha * x.y + y.y, alpha * x.z + y.z, alpha * x.w + y.w);
    }
};

/* f over [0,n): float4 items first when vec (every pointer aligned), then the scalar tail. */
template <typename F> __global__ void map_kernel(F f, int64_t n, bool vec)
{
    int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    int64_t done = 0;
    if (vec) {
        int64_t n4 = n / 4;
        for (int64_t i = tid; i < n4; i += step)
            f.v4(i * 4);
        done = n4 * 4;
    }
    for (int64_t i = done + tid; i < n; i += step)
        f(i);
}

template <typename F> static void map(nl_kernels *k, F f, int64_t n, bool vec, const char *name)
{
    if (n <= 0)
        return;
    map_kernel<<<cu_grid(vec ? (n + 3) / 4 : n, 256, 4), 256, 0, cu_stream(k)>>>(f, n, vec);
    cu_check_launch(k, name);
}

static void cu_gelu_forward(nl_kernels *k, float *out, const float *x, int64_t n)
{
    map(k, gelu_fwd{out, x}, n, cu_aligned16(out, x), "gelu_forward");
}

static void cu_gelu_backward(nl_kernels *k, float *dx, const float *x, const float *dout, int64_t n)
{
    map(k, gelu_bwd{dx, x, dout}, n, cu_aligned16(dx, x, dout), "gelu_backward");
}

static void cu_swiglu_forward(nl_kernels *k, float *out, const float *gate, const float *up,
                              int64_t n)
{
    map(k, swiglu_fwd{out, gate, up}, n, cu_aligned16(out, gate, up), "swiglu_forward");
}

static void cu_swiglu_backward(nl_kernels *k, float *dgate, float *dup, const float *gate,
                               const float *up, const float *dout, int64_t n)
{
    map(k, swiglu_bwd{dgate, dup, gate, up, dout}, n, cu_aligned16(dgate, dup, gate, up, dout),
        "swiglu_backward");
}

static void cu_axpy(nl_kernels *k, float *y, float alpha, const float *x, int64_t n)
{
    map(k, add_scaled_op{y, x, y, alpha}, n, cu_aligned16(y, x), "axpy");
}

static void cu_add_scaled(nl_kernels *k, float *out, float alpha, const float *a, const float *b,
                          int64_t n)
{
    map(k, add_scaled_op{out, a, b, alpha}, n, cu_aligned16(out, a, b), "add_scaled");
}

/* out (B,T,C) = wte[tokens[b,t]] + (wpe ? wpe[t] : 0). One thread per V columns. */
template <int V>
__global__ void embed_forward_kernel(float *out, const int32_t *tokens, const float *wte,
                                     const float *wpe, int BT, int T, int C)
{
    int cv = C / V;
    int64_t n = (int64_t)BT * cv;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int bt = (int)(i / cv), c = (int)(i % cv) * V;
        int t = bt % T;
        const float *e = wte + (int64_t)tokens[bt] * C + c;
        float *o = out + (int64_t)bt * C + c;
        if (V == 4) {
            float4 a = *(const float4 *)e;
            if (wpe) {
                float4 p = *(const float4 *)(wpe + (int64_t)t * C + c);
                a.x += p.x, a.y += p.y, a.z += p.z, a.w += p.w;
            }
            *(float4 *)o = a;
        } else {
            *o = *e + (wpe ? wpe[(int64_t)t * C + c] : 0.f);
        }
    }
}

static void cu_embed_forward(nl_kernels *k, float *out, const int32_t *tokens, const float *wte,
                             const float *wpe, int B, int T, int C)
{
    int64_t n = (int64_t)B * T * C;
    if (n <= 0)
        return;
    if (C % 4 == 0 && cu_aligned16(out, wte, wpe))
        embed_forward_kernel<4>
            <<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>(out, tokens, wte, wpe, B * T, T, C);
    else
        embed_forward_kernel<1>
            <<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>(out, tokens, wte, wpe, B * T, T, C);
    cu_check_launch(k, "embed_forward");
}

void cu_fill_pointwise(nl_kernels *k)
{
    k->embed_forward = cu_embed_forward;
    k->gelu_forward = cu_gelu_forward;
    k->gelu_backward = cu_gelu_backward;
    k->swiglu_forward = cu_swiglu_forward;
    k->swiglu_backward = cu_swiglu_backward;
    k->axpy = cu_axpy;
    k->add_scaled = cu_add_scaled;
}
