// glow-gpu kernels: the only OpenCL C in the project, built for OpenCL devices and (through
// a compatibility header) for CUDA. Lessons behind its shape: docs/kernel-notes.md.
//
// Two variants in one source, chosen per device by Sources/GlowGPU/KernelBackend/KernelTuningTable.swift
// (the program is built with -DGLOW_VARIANT_CPU=1 or -DGLOW_VARIANT_GPU=1; every kernel is
// compiled in both so CI can check the GPU variant on PoCL):
// - cpu (PoCL): no __local memory or barriers; loop-free bodies for elementwise work so PoCL
//   vectorises across work-items; explicit float16 register tiles with fma for GEMM.
// - gpu: many threads per work-group, operands staged in __local tiles between barriers,
//   small register blocks, tree reductions in __local (section "GPU variant" below).
// Every tile size and work-group size is an #ifndef default (from glow_ops.h) the build
// overrides with -D.
// Only plain OpenCL C 1.2: multi-component vector literals are avoided (see the CUDA
// compatibility header), no subgroups.
// Activations are channel-major (CNHW): see Sources/GlowCore/Backend/Backend.swift.
//
// Vector literals of several components are written VEC(float4)(a, b, c, d): the CUDA
// backend compiles this file as C++ (Sources/Kernels/cuda_compat.h), where
// `(float4)(a, b, c, d)` would cast the comma expression, i.e. broadcast d.
// Operation codes and tunable defaults, shared with Swift. The backends put the header's
// embedded text first (which defines GLOW_OPS_H); a compiler given this file alone finds it
// by its path from here.
#ifndef GLOW_OPS_H
#include "Sources/Kernels/include/glow_ops.h"
#endif
#ifndef VEC
#define VEC(T) (T)
#endif
// A pointer parameter into __local memory is written LOCAL_PTR float* p: in CUDA C++ a
// pointer to shared memory is a plain pointer, and __shared__ may not qualify a parameter.
#ifndef LOCAL_PTR
#define LOCAL_PTR __local
#endif


// ---------------------------------------------------------------------------------------
// GEMM: pack op(B) into panels, then one register-tiled pass (gemm_packed).

// B (or Bᵀ) re-laid as panels of GEMM_PW = 16·GEMM_TV columns, each K × GEMM_PW contiguous,
// zero-padded past N: panel j holds op(B)[k, PW·j …] at panels[(j·K + k)·PW …]. The GEMM
// below then streams its B operand contiguously whatever B's layout was
// (docs/kernel-notes.md, PoCL rule 4). Work-item (k, j).
#ifndef GEMM_TV
#define GEMM_TV GLOW_DEFAULT_GEMM_TV  // float16 vectors per row of the gemm_packed tile
#endif
#if GEMM_TV != 4
#error "GEMM_TV must be 4: gemm_packed's 4 × 64 register tile is written out by hand"
#endif
#define GEMM_PW (16 * GEMM_TV)
__kernel void pack_panels(__global const float* B, int boff, int ldb, int transB, int K, int N,
                          __global float* panels)
{
    const int k = get_global_id(0), j = get_global_id(1);
    if (k >= K) return;
    B += boff;
    __global float* out = panels + ((long)j * K + k) * GEMM_PW;
    for (int v = 0; v < GEMM_TV; ++v) {
        const int n0 = j * GEMM_PW + v * 16;
        float16 x;
        if (!transB && n0 + 16 <= N) {
            x = vload16(0, B + k * ldb + n0);
        } else {
            float t[16];
            for (int q = 0; q < 16; ++q) {
                const int n = n0 + q;
                t[q] = n < N ? (transB ? B[n * ldb + k] : B[k * ldb + n]) : 0.0f;
            }
            x = vload16(0, t);
        }
        vstore16(x, v, out);
    }
}

// C = alpha · op(A) · op(B) + beta · C with op(B) packed by pack_panels (GEMM_TV = 4);
// A(m, k) = A[m·sam + k·sak]. Work-item (i, j): 4 rows × 64 columns in 16 float16
// accumulators, written out by hand: PoCL keeps named vectors in registers, where
// arrays indexed in loops were seen to spill.
#define GEMM_ROW(cr0, cr1, cr2, cr3, a) \
    { const float16 av = (float16)(a); \
      cr0 = fma(av, b0, cr0); cr1 = fma(av, b1, cr1); cr2 = fma(av, b2, cr2); cr3 = fma(av, b3, cr3); }

void gemm_store16(__global float* C, int ldc, int M, int N, int m, int n0, float alpha, float beta, float16 acc)
{
    if (m >= M || n0 >= N) return;
    __global float* cp = C + m * ldc + n0;
    float16 x = alpha * acc;
    if (n0 + 16 <= N) {
        if (beta != 0.0f) x = fma((float16)(beta), vload16(0, cp), x);
        vstore16(x, 0, cp);
    } else {
        float t[16];
        vstore16(x, 0, t);
        for (int q = 0; q < N - n0; ++q) cp[q] = beta != 0.0f ? t[q] + beta * cp[q] : t[q];
    }
}

__kernel void gemm_packed(int M, int N, int K, float alpha,
                          __global const float* A, int aoff, int sam, int sak,
                          __global const float* panels,
                          float beta, __global float* C, int coff, int ldc)
{
    const int m0 = get_global_id(0) * 4;
    const int j = get_global_id(1), nb = j * 64;
    if (m0 >= M || nb >= N) return;
    A += aoff; C += coff;
    const __global float* a0p = A + min(m0, M - 1) * sam;
    const __global float* a1p = A + min(m0 + 1, M - 1) * sam;
    const __global float* a2p = A + min(m0 + 2, M - 1) * sam;
    const __global float* a3p = A + min(m0 + 3, M - 1) * sam;
    float16 c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
    float16 c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
    const __global float* bp = panels + (long)j * K * 64;
    for (int k = 0; k < K; ++k) {
        const float16 b0 = vload16(0, bp), b1 = vload16(1, bp), b2 = vload16(2, bp), b3 = vload16(3, bp);
        bp += 64;
        const int ak = k * sak;
        GEMM_ROW(c00, c01, c02, c03, a0p[ak])
        GEMM_ROW(c10, c11, c12, c13, a1p[ak])
        GEMM_ROW(c20, c21, c22, c23, a2p[ak])
        GEMM_ROW(c30, c31, c32, c33, a3p[ak])
    }
    gemm_store16(C, ldc, M, N, m0, nb, alpha, beta, c00); gemm_store16(C, ldc, M, N, m0, nb + 16, alpha, beta, c01);
    gemm_store16(C, ldc, M, N, m0, nb + 32, alpha, beta, c02); gemm_store16(C, ldc, M, N, m0, nb + 48, alpha, beta, c03);
    gemm_store16(C, ldc, M, N, m0 + 1, nb, alpha, beta, c10); gemm_store16(C, ldc, M, N, m0 + 1, nb + 16, alpha, beta, c11);
    gemm_store16(C, ldc, M, N, m0 + 1, nb + 32, alpha, beta, c12); gemm_store16(C, ldc, M, N, m0 + 1, nb + 48, alpha, beta, c13);
    gemm_store16(C, ldc, M, N, m0 + 2, nb, alpha, beta, c20); gemm_store16(C, ldc, M, N, m0 + 2, nb + 16, alpha, beta, c21);
    gemm_store16(C, ldc, M, N, m0 + 2, nb + 32, alpha, beta, c22); gemm_store16(C, ldc, M, N, m0 + 2, nb + 48, alpha, beta, c23);
    gemm_store16(C, ldc, M, N, m0 + 3, nb, alpha, beta, c30); gemm_store16(C, ldc, M, N, m0 + 3, nb + 16, alpha, beta, c31);
    gemm_store16(C, ldc, M, N, m0 + 3, nb + 32, alpha, beta, c32); gemm_store16(C, ldc, M, N, m0 + 3, nb + 48, alpha, beta, c33);
}

// ---------------------------------------------------------------------------------------
// 3×3 "same" convolution lowering. Work-item (p, row): p = n·H·W + h·W + w, row = c·9 + t.
__kernel void im2col3x3(__global const float* x, int xoff, int N, int H, int W,
                        __global float* col)
{
    const int p = get_global_id(0), row = get_global_id(1);
    const int HW = H * W, P = N * HW;
    if (p >= P) return;
    const int c = row / 9, t = row - c * 9;
    const int ky = t / 3 - 1, kx = t - (t / 3) * 3 - 1;
    const int n = p / HW, s = p - n * HW, h = s / W, w = s - h * W;
    const int sh = h + ky, sw = w + kx;
    const int inside = sh >= 0 && sh < H && sw >= 0 && sw < W;
    const int src = xoff + (c * N + n) * HW + (inside ? sh * W + sw : 0);
    col[row * P + p] = inside ? x[src] : 0.0f;
}

// Adjoint of im2col3x3: x[c, n, h, w] += Σ_t col[c·9 + t, n, h - ky, w - kx].
__kernel void col2im3x3(__global const float* col, int N, int H, int W,
                        __global float* x, int xoff)
{
    const int p = get_global_id(0), c = get_global_id(1);
    const int HW = H * W, P = N * HW;
    if (p >= P) return;
    const int n = p / HW, s = p - n * HW, h = s / W, w = s - h * W;
    float acc = 0.0f;
    for (int t = 0; t < 9; ++t) {
        const int ky = t / 3 - 1, kx = t % 3 - 1;
        const int oh = h - ky, ow = w - kx;
        if (oh >= 0 && oh < H && ow >= 0 && ow < W) acc += col[(c * 9 + t) * P + n * HW + oh * W + ow];
    }
    x[xoff + c * P + p] += acc;
}

// ---------------------------------------------------------------------------------------
// Elementwise. One element per work-item; `total` guards the rounded-up global size.

// ActNorm, Conv2dZeros' output scale: y = (x + b[r]) · exp(f · logs[r]) or its inverse.
// exp(±factor · logs[r]) once per row, so channel_affine multiplies instead of calling
// exp for every element.
__kernel void row_scale(__global const float* logs, float factor, __global float* scale, int rows)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    scale[r] = exp(factor * logs[r]);
}

// Work-item (j, r): the row comes from the second dimension, so there is no division.
// Forward y = (x + b) · scale, reverse y = x · scale - b (scale = exp(∓factor · logs) from
// row_scale); `relu` fuses the ReLU that follows every ActNorm in the coupling network.
__kernel void channel_affine(__global const float* x, int xoff, int cols,
                             __global const float* bias, __global const float* scale,
                             int reverse, int relu, __global float* y, int yoff)
{
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols) return;
    const float b = bias[r], s = scale[r];
    const int i = r * cols + j;
    const float v = x[xoff + i];
    const float out = reverse ? v * s - b : (v + b) * s;
    y[yoff + i] = relu ? fmax(out, 0.0f) : out;
}

__kernel void binary_op(int op, __global const float* a, int aoff, __global const float* b, int boff,
                        __global float* y, int yoff, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const float u = a[aoff + i], v = b[boff + i];
    float r;
    switch (op) {
    case GLOW_BINARY_ADD: r = u + v; break;
    case GLOW_BINARY_SUBTRACT: r = u - v; break;
    default: r = u > 0.0f ? v : 0.0f; break;   // GLOW_BINARY_RELU_BACKWARD: u = ReLU output, v = gradient
    }
    y[yoff + i] = r;
}

// Space-to-depth by 2 (inverse = depth-to-space). One work-item per element of the large
// (un-squeezed) tensor [C, N, H, W].
__kernel void squeeze2(__global const float* x, __global float* y, int N, int H, int W, int inverse, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int w = i % W, h = (i / W) % H, cn = i / (W * H);
    const int n = cn % N, c = cn / N;
    const int H2 = H / 2, W2 = W / 2;
    const int small = (((c * 4 + (h & 1) * 2 + (w & 1)) * N + n) * H2 + h / 2) * W2 + w / 2;
    if (inverse) y[i] = x[small]; else y[small] = x[i];
}

// Affine coupling on rows [half, 2·half) of x; h holds shift (even rows) and raw scale
// (odd rows). Work-item i also copies element i of the first half (y1 = x1), which saves
// a copy launch per coupling.
__kernel void affine_coupling(__global const float* x, __global const float* h, int nhalf, int cols,
                              int reverse, __global float* y, __global float* logscale, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    y[i] = x[i];
    const int r = i / cols, j = i - r * cols;
    const float shift = h[(2 * r) * cols + j];
    const float s = 1.0f / (1.0f + exp(-(h[(2 * r + 1) * cols + j] + 2.0f)));
    const float v = x[(nhalf + r) * cols + j];
    y[(nhalf + r) * cols + j] = reverse ? v / s - shift : (v + shift) * s;
    logscale[i] = log(s);
}

__kernel void gaussian_log_density(__global const float* z, int zoff, __global const float* h,
                                   int moff, int loff, int rstride, int cols,
                                   __global float* out, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int r = i / cols, j = i - r * cols;
    const float m = h[moff + r * rstride * cols + j], l = h[loff + r * rstride * cols + j];
    const float d = (z[zoff + i] - m) * exp(-l);
    out[i] = -0.91893853320467274178f - l - 0.5f * d * d;
}

__kernel void gaussian_sample(__global const float* eps, __global const float* h,
                              int moff, int loff, int rstride, int cols, float temperature,
                              __global float* z, int zoff, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int r = i / cols, j = i - r * cols;
    const float m = h[moff + r * rstride * cols + j], l = h[loff + r * rstride * cols + j];
    z[zoff + i] = m + exp(l) * eps[i] * temperature;
}

// ---------------------------------------------------------------------------------------
// Training.

__kernel void scale_shift(__global const float* x, int xoff, float alpha, float beta,
                          __global float* y, int yoff, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    y[yoff + i] = alpha * x[xoff + i] + beta;
}

// Backward of affine_coupling; see Backend.affineCouplingBackward.
__kernel void affine_coupling_backward(__global const float* x, __global const float* h, __global const float* dy,
                                       int nhalf, int cols, float logdet_grad,
                                       __global float* dx, __global float* dh, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int r = i / cols, j = i - r * cols;
    const int e = (2 * r) * cols + j, o = (2 * r + 1) * cols + j, k = (nhalf + r) * cols + j;
    const float s = 1.0f / (1.0f + exp(-(h[o] + 2.0f)));
    const float y2 = (x[k] + h[e]) * s;
    const float d = dy[k];
    dx[k] = d * s;
    dh[e] = d * s;
    dh[o] = (1.0f - s) * (d * y2 + logdet_grad);
}

// Backward of scale · gaussian_log_density; see ElementOp.gaussianBackward.
__kernel void gaussian_backward(__global const float* z, int zoff, __global const float* h,
                                int moff, int loff, int rstride, int cols, float scale,
                                __global float* dz, int dzoff, __global float* dh, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int r = i / cols, j = i - r * cols;
    const int mi = moff + r * rstride * cols + j, li = loff + r * rstride * cols + j;
    const float l = h[li], diff = z[zoff + i] - h[mi], e = exp(-2.0f * l);
    const float g = -scale * diff * e;
    dz[dzoff + i] = g;
    dh[mi] = -g;
    dh[li] = scale * (diff * diff * e - 1.0f);
}

__kernel void fill_value(__global float* y, int yoff, float value, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    y[yoff + i] = value;
}

// Row block copy: work-item (j, r).
__kernel void copy_2d(__global const float* src, int soff, int sstride,
                      __global float* dst, int doff, int dstride, int cols)
{
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols) return;
    dst[doff + r * dstride + j] = src[soff + r * sstride + j];
}

// Strided block copy (weight re-layouts): work-item (j, r).
__kernel void copy_strided(__global const float* src, int soff, int srs, int scs,
                           __global float* dst, int doff, int drs, int dcs, int cols)
{
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols) return;
    dst[doff + r * drs + j * dcs] = src[soff + r * srs + j * scs];
}

// ---------------------------------------------------------------------------------------
// Reductions: a loop per work-item, few work-items. PoCL compiles a loop as scalar code
// unless it is written with vector types, so the bulk is summed as float16 (16 partial
// sums) and only the tail element by element.

float sum16(const __global float* p, int n, int squares)
{
    float16 acc = (float16)(0.0f);
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const float16 v = vload16(0, p + j);
        acc = squares ? fma(v, v, acc) : acc + v;
    }
    const float8 a8 = acc.lo + acc.hi;
    const float4 a4 = a8.lo + a8.hi;
    float s = a4.x + a4.y + a4.z + a4.w;
    for (; j < n; ++j) s = squares ? fma(p[j], p[j], s) : s + p[j];
    return s;
}

__kernel void row_sums(__global const float* x, int xoff, int rows, int cols, int squares, __global float* out, int outoff)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    out[outoff + r] = sum16(x + xoff + (long)r * cols, cols, squares);
}

__kernel void row_dots(__global const float* a, __global const float* b, int rows, int cols, __global float* out)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const __global float* p = a + (long)r * cols;
    const __global float* q = b + (long)r * cols;
    float16 acc = (float16)(0.0f);
    int j = 0;
    for (; j + 16 <= cols; j += 16) acc = fma(vload16(0, p + j), vload16(0, q + j), acc);
    const float8 a8 = acc.lo + acc.hi;
    const float4 a4 = a8.lo + a8.hi;
    float s = a4.x + a4.y + a4.z + a4.w;
    for (; j < cols; ++j) s = fma(p[j], q[j], s);
    out[r] = s;
}

__kernel void sample_sums(__global const float* x, int xoff, int rows, int N, int spatial,
                          __global float* out, int accumulate)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    float s = 0.0f;
    for (int r = 0; r < rows; ++r) s += sum16(x + xoff + ((long)r * N + n) * spatial, spatial, 0);
    out[n] = accumulate ? out[n] + s : s;
}

// ---------------------------------------------------------------------------------------
// Philox4x32-10, as in Sources/GlowCore/Backend/Philox.swift. Work-item b fills elements 4b … 4b+3.

uint4 philox4x32_10(uint4 c, uint2 k)
{
    for (int i = 0; i < 10; ++i) {
        const uint lo0 = 0xD2511F53u * c.x, hi0 = mul_hi(0xD2511F53u, c.x);
        const uint lo1 = 0xCD9E8D57u * c.z, hi1 = mul_hi(0xCD9E8D57u, c.z);
        c = VEC(uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += VEC(uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

float philox_unit(uint w) { return (float)(w >> 8) * (1.0f / 16777216.0f) + (0.5f / 16777216.0f); }

__kernel void philox_fill(__global float* y, int yoff, int total, uint seed_lo, uint seed_hi,
                          uint stream_lo, uint stream_hi, int normal, float low, float high)
{
    const int b = get_global_id(0);
    const int i = 4 * b;
    if (i >= total) return;
    const uint4 r = philox4x32_10(VEC(uint4)((uint)b, 0u, stream_lo, stream_hi), VEC(uint2)(seed_lo, seed_hi));
    float4 v;
    if (normal) {
        const float r0 = sqrt(-2.0f * log(philox_unit(r.x))), t0 = 6.2831853071795864769f * philox_unit(r.y);
        const float r1 = sqrt(-2.0f * log(philox_unit(r.z))), t1 = 6.2831853071795864769f * philox_unit(r.w);
        v = VEC(float4)(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
    } else {
        const float w = high - low;
        v = VEC(float4)(low + w * philox_unit(r.x), low + w * philox_unit(r.y),
                     low + w * philox_unit(r.z), low + w * philox_unit(r.w));
    }
    y += yoff + i;
    if (i + 4 <= total) { vstore4(v, 0, y); }
    else {
        y[0] = v.x;
        if (i + 1 < total) y[1] = v.y;
        if (i + 2 < total) y[2] = v.z;
    }
}

// =======================================================================================
// GPU variant. Launched when the device's tuning says `gpu`; compiled in both variants.
// Design figures for an H200 (registers, shared memory, arithmetic intensity): the
// "GPU variant" section of docs/benchmarks.md.

// GEMM tile: a work-group of NDIMC × MDIMC work-items (local size [NDIMC, MDIMC]) owns an
// MWG × NWG tile of C; K advances in KWG slices staged in __local, two buffers deep. Work-item
// (tn, tm) keeps an MWI × NWI register block made of vectors: its rows are
// (g·MDIMC + tm)·VWM + v for g < MWI/VWM, v < VWM, its columns (g·NDIMC + tn)·VWN + v. So it
// reads __local as VWM- and VWN-wide vectors (one 128-bit load in place of four), neighbouring
// work-items read neighbouring vectors (no bank conflicts) and store neighbouring columns.
#ifndef MWG
#define MWG GLOW_DEFAULT_MWG
#endif
#ifndef NWG
#define NWG GLOW_DEFAULT_NWG
#endif
#ifndef KWG
#define KWG GLOW_DEFAULT_KWG
#endif
#ifndef MDIMC
#define MDIMC GLOW_DEFAULT_MDIMC
#endif
#ifndef NDIMC
#define NDIMC GLOW_DEFAULT_NDIMC
#endif
#ifndef VWM
#define VWM GLOW_DEFAULT_VWM
#endif
#ifndef VWN
#define VWN GLOW_DEFAULT_VWN
#endif
#ifndef GROUPS_PER_CU
#define GROUPS_PER_CU GLOW_DEFAULT_GROUPS_PER_CU
#endif
// Work-items per group of the tree reductions (a power of two).
#ifndef WG_REDUCE
#define WG_REDUCE GLOW_DEFAULT_WG_REDUCE
#endif
#define MWI (MWG / MDIMC)
#define NWI (NWG / NDIMC)
#define GEMM_THREADS (MDIMC * NDIMC)
// One vector of padding per __local row, so rows stay vector-aligned and the k-fast staging
// stores of one k slice spread over the banks.
#define MWGP (MWG + VWM)
#define NWGP (NWG + VWN)
// Elements of a slice each work-item stages.
#define GEMM_LA (MWG * KWG / GEMM_THREADS)
#define GEMM_LB (NWG * KWG / GEMM_THREADS)
#if MWG % MDIMC != 0 || NWG % NDIMC != 0
#error "MWG must be a multiple of MDIMC and NWG of NDIMC"
#endif
#if (MWG * KWG) % (MDIMC * NDIMC) != 0 || (NWG * KWG) % (MDIMC * NDIMC) != 0
#error "MWG·KWG and NWG·KWG must be multiples of MDIMC·NDIMC (each work-item stages whole slices)"
#endif
#if GEMM_THREADS % MWG != 0 || GEMM_THREADS % NWG != 0 || GEMM_THREADS % KWG != 0
#error "MDIMC·NDIMC must be a multiple of MWG, NWG and KWG (a work-item stages one row, column or k)"
#endif
#if MWI % VWM != 0 || NWI % VWN != 0
#error "MWG/MDIMC must be a multiple of VWM and NWG/NDIMC of VWN"
#endif
#if (WG_REDUCE & (WG_REDUCE - 1)) != 0
#error "WG_REDUCE must be a power of two"
#endif

// __local vectors of VWM (VWN) floats, and how one is unpacked into registers.
#if VWM == 4
#define LOCAL_VM float4
#define UNPACK_M(r, i, v) { r[i] = v.x; r[i + 1] = v.y; r[i + 2] = v.z; r[i + 3] = v.w; }
#elif VWM == 2
#define LOCAL_VM float2
#define UNPACK_M(r, i, v) { r[i] = v.x; r[i + 1] = v.y; }
#elif VWM == 1
#define LOCAL_VM float
#define UNPACK_M(r, i, v) { r[i] = v; }
#else
#error "VWM must be 1, 2 or 4"
#endif
#if VWN == 4
#define LOCAL_VN float4
#define UNPACK_N(r, i, v) { r[i] = v.x; r[i + 1] = v.y; r[i + 2] = v.z; r[i + 3] = v.w; }
#elif VWN == 2
#define LOCAL_VN float2
#define UNPACK_N(r, i, v) { r[i] = v.x; r[i + 1] = v.y; }
#elif VWN == 1
#define LOCAL_VN float
#define UNPACK_N(r, i, v) { r[i] = v; }
#else
#error "VWN must be 1, 2 or 4"
#endif

// The tiled kernels run in groups of exactly NDIMC × MDIMC. (CUDA's compatibility header
// makes this a launch bound that also asks for GROUPS_PER_CU resident groups per SM, so
// ptxas keeps the registers to what that many need.)
#ifndef GEMM_GROUP
#define GEMM_GROUP __attribute__((reqd_work_group_size(NDIMC, MDIMC, 1)))
#endif

// acc[i·NWI + j] += Σ_kk As[kk, row i] · Bs[kk, column j]: one staged slice (rows and columns
// of the work-item as above).
void tile_fma(LOCAL_PTR const LOCAL_VM* As, LOCAL_PTR const LOCAL_VN* Bs, float* acc, int tm, int tn)
{
#pragma unroll
    for (int kk = 0; kk < KWG; ++kk) {
        float a[MWI], b[NWI];
#pragma unroll
        for (int g = 0; g < MWI / VWM; ++g) {
            const LOCAL_VM v = As[kk * (MWGP / VWM) + g * MDIMC + tm];
            UNPACK_M(a, g * VWM, v)
        }
#pragma unroll
        for (int g = 0; g < NWI / VWN; ++g) {
            const LOCAL_VN v = Bs[kk * (NWGP / VWN) + g * NDIMC + tn];
            UNPACK_N(b, g * VWN, v)
        }
#pragma unroll
        for (int i = 0; i < MWI; ++i) {
#pragma unroll
            for (int j = 0; j < NWI; ++j) acc[i * NWI + j] = fma(a[i], b[j], acc[i * NWI + j]);
        }
    }
}

// C[m, n] = alpha · acc + beta · C[m, n] for the work-item's block; C is not read when beta == 0.
void tile_store(__global float* C, int ldc, int M, int N, int m0, int n0, int tm, int tn,
                float alpha, float beta, const float* acc)
{
#pragma unroll
    for (int i = 0; i < MWI; ++i) {
        const int m = m0 + ((i / VWM) * MDIMC + tm) * VWM + i % VWM;
        if (m < M) {
#pragma unroll
            for (int j = 0; j < NWI; ++j) {
                const int n = n0 + ((j / VWN) * NDIMC + tn) * VWN + j % VWN;
                if (n < N) {
                    const float v = alpha * acc[i * NWI + j];
                    C[m * ldc + n] = beta != 0.0f ? fma(beta, C[m * ldc + n], v) : v;
                }
            }
        }
    }
}

// The implicit im2col matrix of a 3×3 "same" convolution over a CNHW tensor (x already at
// its offset): col[c·9 + t, p] = x[c, n, h + ky - 1, w + kx - 1], zero outside the image,
// t = 3·ky + kx, p = n·H·W + h·W + w. `flip` reads tap 8 - t: the data gradient is the same
// gather of dy with the kernel rotated by 180°. (h, w) are p's row and column, which the
// tiled kernels work out once per work-item or slice rather than per element; the divisions
// left (by 9 and 3) are by constants.
float im2col_hw(__global const float* x, int NHW, int H, int W, int row, int p, int h, int w, int flip)
{
    const int c = row / 9, t0 = row - c * 9, t = flip ? 8 - t0 : t0;
    const int ty = t / 3, tx = t - ty * 3;
    const int sh = h + ty - 1, sw = w + tx - 1;
    return (sh >= 0 && sh < H && sw >= 0 && sw < W) ? x[c * NHW + p + (ty - 1) * W + (tx - 1)] : 0.0f;
}

// p's row and column in its H × W image.
#define PIXEL_HW(p, HW, W, h, w) { const int s_ = (p) % (HW); h = s_ / (W); w = s_ - h * (W); }

// Element l of the slice that work-item `tid` stages for an operand W wide: its place xx
// along the operand and kk along k (k-fast operands: a fixed kk, else a fixed xx).
#define STAGED(KFAST, W, FIXED_X, FIXED_K, l, xx, kk)                                           \
    const int xx = (KFAST) ? tid / KWG + (l) * (GEMM_THREADS / KWG) : (FIXED_X);                \
    const int kk = (KFAST) ? (FIXED_K) : tid / (W) + (l) * (GEMM_THREADS / (W));

// The common frame of the tiled kernels below: group (gn, gm, split) owns C's tile at
// (m0, n0) and K range [kbeg, kend); LOAD_A(m, k) and LOAD_B(k, n) are the operands (only
// called inside M, N and the K range). A_KFAST / B_KFAST say whether consecutive k are
// adjacent in memory: then neighbouring work-items stage along k (each keeps one k of the
// slice, `a_kk` / `b_kk`), else along m / n (each keeps one row `a_mm` or column `b_nn` for
// every slice), so the staging reads are coalesced and a kernel can work out per-column
// (SETUP, once) or per-k (SLICE, each slice) values outside the element loop. Slice s+1 is
// read into registers while slice s is multiplied from the other __local buffer: one
// barrier per slice.
#define TILED_GEMM_MAIN(LOAD_A, LOAD_B, A_KFAST, B_KFAST, SETUP, SLICE)                         \
    __local LOCAL_VM As[2][KWG * MWGP / VWM];                                                   \
    __local LOCAL_VN Bs[2][KWG * NWGP / VWN];                                                   \
    const int tn = get_local_id(0), tm = get_local_id(1), tid = tm * NDIMC + tn;                \
    const int n0 = get_group_id(0) * NWG, m0 = get_group_id(1) * MWG;                           \
    const int kbeg = get_group_id(2) * kspan, kend = min(K, kbeg + kspan);                       \
    const int a_mm = tid % MWG, a_kk = tid % KWG, b_nn = tid % NWG, b_kk = tid % KWG;           \
    SETUP                                                                                       \
    float acc[MWI * NWI], ra[GEMM_LA], rb[GEMM_LB];                                             \
    _Pragma("unroll") for (int q = 0; q < MWI * NWI; ++q) acc[q] = 0.0f;                        \
    int buf = 0;                                                                                \
    for (int k0 = kbeg; k0 < kend + KWG; k0 += KWG) {                                           \
        /* Read slice k0 (none after the last), multiply slice k0 - KWG, store slice k0. */     \
        if (k0 < kend) {                                                                        \
            SLICE                                                                               \
            _Pragma("unroll") for (int l = 0; l < GEMM_LA; ++l) {                               \
                STAGED(A_KFAST, MWG, a_mm, a_kk, l, mm, kk)                                     \
                const int m = m0 + mm, k = k0 + kk;                                             \
                ra[l] = (m < M && k < kend) ? (LOAD_A) : 0.0f;                                  \
            }                                                                                   \
            _Pragma("unroll") for (int l = 0; l < GEMM_LB; ++l) {                               \
                STAGED(B_KFAST, NWG, b_nn, b_kk, l, nn, kk)                                     \
                const int n = n0 + nn, k = k0 + kk;                                             \
                rb[l] = (n < N && k < kend) ? (LOAD_B) : 0.0f;                                  \
            }                                                                                   \
        }                                                                                       \
        /* Work-items whose rows all lie past M (narrow outputs) skip the arithmetic. */        \
        if (k0 > kbeg && m0 + tm * VWM < M) tile_fma(As[buf ^ 1], Bs[buf ^ 1], acc, tm, tn);   \
        if (k0 < kend) {                                                                        \
            LOCAL_PTR float* as = (LOCAL_PTR float*)As[buf];                                    \
            LOCAL_PTR float* bs = (LOCAL_PTR float*)Bs[buf];                                    \
            _Pragma("unroll") for (int l = 0; l < GEMM_LA; ++l) {                               \
                STAGED(A_KFAST, MWG, a_mm, a_kk, l, mm, kk)                                     \
                as[kk * MWGP + mm] = ra[l];                                                     \
            }                                                                                   \
            _Pragma("unroll") for (int l = 0; l < GEMM_LB; ++l) {                               \
                STAGED(B_KFAST, NWG, b_nn, b_kk, l, nn, kk)                                     \
                bs[kk * NWGP + nn] = rb[l];                                                     \
            }                                                                                   \
        }                                                                                       \
        barrier(CLK_LOCAL_MEM_FENCE);                                                           \
        buf ^= 1;                                                                               \
    }

// C = alpha · op(A) · op(B) + beta · C, row-major, any transposes and sizes. Split K: group
// z covers K range [z·kspan, (z+1)·kspan) and writes C + z·cstride (the host passes one
// split with kspan = K and cstride = 0, or several into a scratch summed by
// gemm_splitk_reduce). Launch: local [NDIMC, MDIMC, 1], global [⌈N/NWG⌉·NDIMC,
// ⌈M/MWG⌉·MDIMC, splits].
__kernel GEMM_GROUP void gemm_tiled(int M, int N, int K, float alpha,
                         __global const float* A, int aoff, int lda, int transA,
                         __global const float* B, int boff, int ldb, int transB,
                         float beta, __global float* C, int coff, int ldc, int kspan, int cstride)
{
    A += aoff; B += boff; C += coff + get_group_id(2) * cstride;
    TILED_GEMM_MAIN(transA ? A[k * lda + m] : A[m * lda + k],
                    transB ? B[n * ldb + k] : B[k * ldb + n], !transA, transB, , )
    tile_store(C, ldc, M, N, m0, n0, tm, tn, alpha, beta, acc);
}

// C = alpha · Σ_z parts[z] + beta · C over split-K partial products (each M × N, dense).
// Work-item (n, m).
__kernel void gemm_splitk_reduce(__global const float* parts, int splits, int M, int N, float alpha,
                                 float beta, __global float* C, int coff, int ldc)
{
    const int n = get_global_id(0), m = get_global_id(1);
    if (n >= N || m >= M) return;
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += parts[(z * M + m) * N + n];
    __global float* c = C + coff + m * ldc + n;
    *c = beta != 0.0f ? fma(beta, *c, alpha * s) : alpha * s;
}

// 3×3 convolution forward by implicit GEMM: y[O, P] = W[O, 9C] · col(x)[9C, P], the im2col
// gather done while staging B, so the 9·C·P columns are never written. y is written. Each
// work-item stages one column p of every slice: its (h, w) are worked out once.
__kernel GEMM_GROUP void conv3x3_forward(__global const float* x, int xoff, __global const float* wt, int Cin, int O,
                              int Nimg, int H, int Wd, __global float* y, int yoff)
{
    const int M = O, N = Nimg * H * Wd, K = 9 * Cin, kspan = K;
    x += xoff; y += yoff;
    TILED_GEMM_MAIN(wt[m * K + k], im2col_hw(x, N, H, Wd, k, n, bh, bw, 0), 1, 0,
                    int bh; int bw; PIXEL_HW(n0 + b_nn, H * Wd, Wd, bh, bw), )
    tile_store(y, N, M, N, m0, n0, tm, tn, 1.0f, 0.0f, acc);
}

// Data gradient: dx[C, P] += Σ_(o,t) W[o, c, t] · dy[o, p shifted back by tap t], the GEMM
// Wᵀ-by-taps [C, 9O] · col_flipped(dy)[9O, P] (k = o·9 + t).
__kernel GEMM_GROUP void conv3x3_backward_data(__global const float* dy, int dyoff, __global const float* wt, int Cin,
                                    int O, int Nimg, int H, int Wd, __global float* dx, int dxoff)
{
    const int M = Cin, N = Nimg * H * Wd, K = 9 * O, kspan = K;
    dy += dyoff; dx += dxoff;
    TILED_GEMM_MAIN(wt[(k / 9) * 9 * Cin + m * 9 + (k - (k / 9) * 9)], im2col_hw(dy, N, H, Wd, k, n, bh, bw, 1), 1, 0,
                    int bh; int bw; PIXEL_HW(n0 + b_nn, H * Wd, Wd, bh, bw), )
    tile_store(dx, N, M, N, m0, n0, tm, tn, 1.0f, 1.0f, acc);
}

// Weight gradient: dW[O, 9C] = dy[O, P] · col(x)[9C, P]ᵀ (K = P, long: split K like
// gemm_tiled, partial z at dw + z·cstride). Each work-item stages one k = p of every slice:
// its (h, w) are worked out once per slice.
__kernel GEMM_GROUP void conv3x3_backward_weights(__global const float* x, int xoff, __global const float* dy, int dyoff,
                                       int Cin, int O, int Nimg, int H, int Wd, __global float* dw,
                                       int kspan, int cstride)
{
    const int M = O, N = 9 * Cin, K = Nimg * H * Wd;
    x += xoff; dy += dyoff; dw += get_group_id(2) * cstride;
    TILED_GEMM_MAIN(dy[m * K + k], im2col_hw(x, K, H, Wd, n, k, bh, bw, 0), 1, 1,
                    int bh = 0; int bw = 0;, PIXEL_HW(k0 + b_kk, H * Wd, Wd, bh, bw))
    tile_store(dw, N, M, N, m0, n0, tm, tn, 1.0f, 0.0f, acc);
}

// ---------------------------------------------------------------------------------------
// GPU reductions: one work-group of WG_REDUCE work-items per (chunk, row), a strided sum
// per work-item, then a tree in __local. A row longer than one group's fair share is cut
// into chunks (G groups per row) whose partial sums a second launch of row_sums_wg adds.

// The sum of every work-item's `v`, for work-item 0 (all work-items must call it).
float group_sum(LOCAL_PTR float* sh, float v)
{
    const int lid = get_local_id(0);
    sh[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG_REDUCE / 2; s > 0; s >>= 1) {
        if (lid < s) sh[lid] += sh[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return sh[0];
}

// Group (g, r) of G = get_num_groups(0): out[r·G + g] (+)= Σ x[r, j] (or x²) over
// j ∈ [g·chunk, (g+1)·chunk) ∩ [0, cols), out already at `outoff`. Local size [WG_REDUCE, 1].
__kernel void row_sums_wg(__global const float* x, int xoff, int cols, int squares, int chunk,
                          __global float* out, int outoff, int accumulate)
{
    out += outoff;
    __local float sh[WG_REDUCE];
    const int g = get_group_id(0), r = get_group_id(1), G = get_num_groups(0), lid = get_local_id(0);
    const __global float* p = x + xoff + (long)r * cols;
    const int end = min(cols, (g + 1) * chunk);
    float s = 0.0f;
    for (int j = g * chunk + lid; j < end; j += WG_REDUCE) { const float v = p[j]; s = squares ? fma(v, v, s) : s + v; }
    s = group_sum(sh, s);
    if (lid == 0) out[r * G + g] = accumulate ? out[r * G + g] + s : s;
}

// As row_sums_wg for Σ a[r, j] · b[r, j].
__kernel void row_dots_wg(__global const float* a, __global const float* b, int cols, int chunk, __global float* out)
{
    __local float sh[WG_REDUCE];
    const int g = get_group_id(0), r = get_group_id(1), G = get_num_groups(0), lid = get_local_id(0);
    const __global float* p = a + (long)r * cols;
    const __global float* q = b + (long)r * cols;
    const int end = min(cols, (g + 1) * chunk);
    float s = 0.0f;
    for (int j = g * chunk + lid; j < end; j += WG_REDUCE) s = fma(p[j], q[j], s);
    s = group_sum(sh, s);
    if (lid == 0) out[r * G + g] = s;
}

// Group (g, n): out[n·G + g] (+)= Σ x[r, n·spatial + s] over the chunk g of the image's
// rows·spatial elements, e = r·spatial + s.
__kernel void sample_sums_wg(__global const float* x, int xoff, int rows, int N, int spatial, int chunk,
                             __global float* out, int accumulate)
{
    __local float sh[WG_REDUCE];
    const int g = get_group_id(0), n = get_group_id(1), G = get_num_groups(0), lid = get_local_id(0);
    const int end = min(rows * spatial, (g + 1) * chunk);
    float s = 0.0f;
    for (int e = g * chunk + lid; e < end; e += WG_REDUCE) {
        const int r = e / spatial;
        s += x[xoff + (r * N + n) * spatial + (e - r * spatial)];
    }
    s = group_sum(sh, s);
    if (lid == 0) out[n * G + g] = accumulate ? out[n * G + g] + s : s;
}

// channel_affine with the row scale exp(factor · logs[r]) computed per element: one launch
// instead of row_scale + channel_affine (an exp is cheap next to a launch on a GPU).
__kernel void channel_affine_exp(__global const float* x, int xoff, int cols,
                                 __global const float* bias, __global const float* logs, float factor,
                                 int reverse, int relu, __global float* y, int yoff)
{
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols) return;
    const float b = bias[r], s = exp(factor * logs[r]);
    const int i = r * cols + j;
    const float v = x[xoff + i];
    const float out = reverse ? v * s - b : (v + b) * s;
    y[yoff + i] = relu ? fmax(out, 0.0f) : out;
}


// ---------------------------------------------------------------------------------------
// The training step on the device (both variants): log-determinant terms added where they
// arise, the LU-parametrised 1×1 convolution's W, W⁻¹ and chain rule, and one optimizer
// update over the parameter arena decided on the device (Sources/GlowCore/Training/
// ParameterArena.swift, StepRecord.swift). All of it is small (C × C, C ≤ a few hundred)
// next to the step's GEMMs; what it saves is the host's waits and round trips.

// out[ooff + i] += scale · Σ_j x[xoff + j] for i < outn. Every work-item sums x in the same
// order, so every image receives the same value (ActNorm's and LU's H·W·Σ log-scales).
__kernel void add_scaled_sum(__global const float* x, int xoff, int n, float scale,
                             __global float* out, int ooff, int outn)
{
    const int i = get_global_id(0);
    if (i >= outn) return;
    float s = 0.0f;
    for (int j = 0; j < n; ++j) s += x[xoff + j];
    out[ooff + i] += scale * s;
}

// Ũ[k, j] of W = P·L·Ũ: strict upper part of `upper`, sign_s·exp(log_s) on the diagonal.
float lu_u(__global const float* upper, __global const float* logs, __global const float* signs, int c, int k, int j)
{
    return k == j ? signs[k] * exp(logs[k]) : upper[k * c + j];
}

// (Pᵀ · ∂W)[i, k] = Σ_r P[r, i] · ∂W[r, k], skipping P's zeros (P is a permutation).
float lu_pt_dw(__global const float* p, __global const float* dw, int c, int i, int k)
{
    float a = 0.0f;
    for (int r = 0; r < c; ++r) {
        const float pr = p[r * c + i];
        if (pr != 0.0f) a += pr * dw[r * c + k];
    }
    return a;
}

// W = P · L · Ũ (L unit lower triangular from `lower`'s strict lower part). Work-item (j, i)
// writes W[i, j] = Σ_r P[i, r] · Σ_{k ≤ min(r, j)} L[r, k] · Ũ[k, j].
__kernel void lu_weight(__global const float* p, __global const float* lower, __global const float* upper,
                        __global const float* logs, __global const float* signs, int c, __global float* w)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (j >= c || i >= c) return;
    float acc = 0.0f;
    for (int r = 0; r < c; ++r) {
        const float pr = p[i * c + r];
        if (pr == 0.0f) continue;
        const int kmax = min(r, j);
        float s = 0.0f;
        for (int k = 0; k <= kmax; ++k) {
            const float l = k == r ? 1.0f : lower[r * c + k];
            s += l * lu_u(upper, logs, signs, c, k, j);
        }
        acc += pr * s;
    }
    w[i * c + j] = acc;
}

// W⁻¹ = Ũ⁻¹ · L⁻¹ · Pᵀ, one column per work-item: solve L·y = Pᵀ·e_j forward, then
// Ũ·x = y backward, in place in column j of `inv`.
__kernel void lu_inverse(__global const float* p, __global const float* lower, __global const float* upper,
                         __global const float* logs, __global const float* signs, int c, __global float* inv)
{
    const int j = get_global_id(0);
    if (j >= c) return;
    for (int i = 0; i < c; ++i) {
        float s = p[j * c + i];
        for (int k = 0; k < i; ++k) s -= lower[i * c + k] * inv[k * c + j];
        inv[i * c + j] = s;
    }
    for (int i = c - 1; i >= 0; --i) {
        float s = inv[i * c + j];
        for (int k = i + 1; k < c; ++k) s -= upper[i * c + k] * inv[k * c + j];
        inv[i * c + j] = s / (signs[i] * exp(logs[i]));
    }
}

// The chain rule from ∂W to the LU factors (work-item (j, i)): with A = Pᵀ·∂W,
// ∂L[i, j] = (A·Ũᵀ)[i, j] for j < i, ∂Ũ[i, j] = (Lᵀ·A)[i, j] for j ≥ i; ∂upper takes the
// strict upper part, ∂log_s[i] = ∂Ũ[i, i] · Ũ[i, i] + logdet_scale (the H·W·N·∂loss/∂logdet
// of log|det W| = Σ log_s). Entries outside each factor's part are written as 0.
__kernel void lu_backward(__global const float* dw, __global const float* p, __global const float* lower,
                          __global const float* upper, __global const float* logs, __global const float* signs,
                          int c, float logdet_scale,
                          __global float* glower, __global float* gupper, __global float* glogs)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (j >= c || i >= c) return;
    float s = 0.0f;
    if (j < i) {
        for (int k = j; k < c; ++k) s += lu_pt_dw(p, dw, c, i, k) * lu_u(upper, logs, signs, c, j, k);
        glower[i * c + j] = s;
        gupper[i * c + j] = 0.0f;
    } else {
        for (int k = i; k < c; ++k) s += (k == i ? 1.0f : lower[k * c + i]) * lu_pt_dw(p, dw, c, k, j);
        glower[i * c + j] = 0.0f;
        gupper[i * c + j] = j > i ? s : 0.0f;
        if (j == i) glogs[i] = s * signs[i] * exp(logs[i]) + logdet_scale;
    }
}

// The step record's decision (one work-item): record[0] holds Σ g² over the gradient arena
// (non-finite when a gradient or, through the arena's loss slot, the loss is); writes the
// norm into record[3], 1 into record[2] when the step is applied (else 0: skipped), and
// the clipping factor into record[1] for the threshold scalars[3] (≤ 0: no clipping); a norm
// above scalars[10] (when > 0) skips the step as a non-finite one does.
// `scalars` is the step's StepScalars buffer (Backend+TrainingStep.swift): values that change
// from step to step come from device memory, so a recorded step replays with new ones.
__kernel void step_decide(__global float* record, __global const float* scalars)
{
    if (get_global_id(0) != 0) return;
    const float clip = scalars[3], skip = scalars[10];
    const float norm = sqrt(record[0]);
    // False for NaN and +inf, and above the skip threshold when there is one.
    const int ok = norm <= 3.402823466e+38f && (skip <= 0.0f || norm <= skip);
    record[3] = norm;
    record[2] = ok ? 1.0f : 0.0f;
    record[1] = (ok && clip > 0.0f && norm > clip) ? clip / norm : 1.0f;
}

// Adam / Adamax over the whole parameter arena with the gradients scaled by record[1],
// nothing changed when record[2] is 0 (a skipped step), then the EMA
// `ema += scalars[11] · (p - ema)` when has_ema. The learning rate and the bias
// corrections are scalars[0], [1], [2] (the step's StepScalars); scalars[12] > 0 caps each
// weight's step before the learning rate, |m̂/(√v̂ + ε)|, to that value.
__kernel void arena_update(__global float* p, __global const float* g, __global float* m, __global float* v,
                           __global float* ema, __global const float* record, __global const float* scalars,
                           float b1, float b2, float eps, int adamax, int has_ema, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    if (record[2] == 0.0f) return;
    const float lr = scalars[0], c1 = scalars[1], c2 = scalars[2], cap = scalars[12];
    const float gi = g[i] * record[1];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    m[i] = mi;
    float pi = p[i];
    if (adamax) {
        const float u = fmax(b2 * v[i], fabs(gi));
        v[i] = u;
        if (cap > 0.0f) pi -= lr * fmin(fmax(c1 * mi / (u + eps), -cap), cap);
        else pi -= lr * c1 * mi / (u + eps);
    } else {
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        v[i] = vi;
        if (cap > 0.0f) pi -= lr * fmin(fmax((mi * c1) / (sqrt(vi * c2) + eps), -cap), cap);
        else pi -= lr * (mi * c1) / (sqrt(vi * c2) + eps);
    }
    p[i] = pi;
    if (has_ema) {
        const float e = ema[i];
        ema[i] = e + scalars[11] * (pi - e);
    }
}

// The narrow-output 3×3 lowering's weight re-layout in one launch (ElementOp.flipTaps3x3):
// [O, C, 3, 3] ↔ [O, 9, C] with the taps flipped. Work-item i indexes dst.
__kernel void flip_taps3x3(__global const float* src, __global float* dst, int c, int to_taps, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    if (to_taps) {          // dst (o, t, ci) ← src (o, ci, 8 − t)
        const int o = i / (9 * c), r = i - o * 9 * c, t = r / c, ci = r - t * c;
        dst[i] = src[(o * c + ci) * 9 + 8 - t];
    } else {                // dst (o, ci, t) ← src (o, 8 − t, ci)
        const int o = i / (9 * c), r = i - o * 9 * c, ci = r / 9, t = r - ci * 9;
        dst[i] = src[(o * 9 + 8 - t) * c + ci];
    }
}

// The backward pass of channel_affine (Backend.channelAffineBackward): from the output y
// and dy of `y = (x + b[r])·exp(factor·logs[r])` (then max(y, 0) when relu: dy is masked
// where y ≤ 0, y being the ReLU's output), dx = dy·exp(factor·logs[r]),
// gbias[r] = Σ dx[r, ·], glogs[r] = factor·Σ dy[r, ·]·y[r, ·] + lconst. One launch instead
// of an affine map, a row sum, a row dot and a scale (ActNorm, Conv2dZeros, LinearZeros).
// cpu variant: one work-item per row, float16 partial sums as in sum16; the ReLU mask is a
// binary_op launch before it (a vector select has no CUDA form in cuda_compat.h). dx may be dy.
__kernel void channel_affine_backward(__global const float* dy, __global const float* y, __global const float* logs,
                                      float factor, int rows, int cols, float lconst,
                                      __global float* dx, __global float* gbias, __global float* glogs)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const float e = exp(factor * logs[r]);
    const __global float* pd = dy + (long)r * cols;
    const __global float* py = y + (long)r * cols;
    __global float* px = dx + (long)r * cols;
    float16 ab = (float16)(0.0f), al = (float16)(0.0f);
    int j = 0;
    for (; j + 16 <= cols; j += 16) {
        const float16 d = vload16(0, pd + j);
        const float16 v = d * e;
        vstore16(v, 0, px + j);
        ab += v;
        al = fma(d, vload16(0, py + j), al);
    }
    const float8 b8 = ab.lo + ab.hi, l8 = al.lo + al.hi;
    const float4 b4 = b8.lo + b8.hi, l4 = l8.lo + l8.hi;
    float sb = b4.x + b4.y + b4.z + b4.w, sl = l4.x + l4.y + l4.z + l4.w;
    for (; j < cols; ++j) {
        const float d = pd[j], v = d * e;
        px[j] = v;
        sb += v;
        sl = fma(d, py[j], sl);
    }
    gbias[r] = sb;
    glogs[r] = factor * sl + lconst;
}

// gpu variant: one work-group of WG_REDUCE work-items per row, strided (coalesced) loads,
// two trees in __local.
__kernel void channel_affine_backward_wg(__global const float* dy, __global const float* y, __global const float* logs,
                                         float factor, int cols, float lconst, int relu,
                                         __global float* dx, __global float* gbias, __global float* glogs)
{
    __local float sh[WG_REDUCE];
    const int r = get_group_id(0), lid = get_local_id(0);
    const float e = exp(factor * logs[r]);
    const long base = (long)r * cols;
    float sb = 0.0f, sl = 0.0f;
    for (int j = lid; j < cols; j += WG_REDUCE) {
        const float yy = y[base + j];
        const float d = (relu && !(yy > 0.0f)) ? 0.0f : dy[base + j], v = d * e;
        dx[base + j] = v;
        sb += v;
        sl = fma(d, yy, sl);
    }
    sb = group_sum(sh, sb);
    barrier(CLK_LOCAL_MEM_FENCE);
    sl = group_sum(sh, sl);
    if (lid == 0) {
        gbias[r] = sb;
        glogs[r] = factor * sl + lconst;
    }
}

// The batch into model space in one pass (Backend.dequantize): `pixels` holds the NCHW bytes,
// four per 32-bit word (little-endian); work-item i writes CNHW element i,
// x = ⌊p / 2^shift⌋ · scale − 0.5 plus, when scalars[4] ≠ 0, U(0, scale) noise element
// `first + i` of the Philox stream (word (first + i) % 4 of block (first + i) / 4, as philox_fill
// draws it), so a rank draws exactly its slice of a global batch. Seed, stream and `first`
// are the 32-bit patterns in scalars[5..9] (the step's StepScalars).
__kernel void dequantize(__global const float* pixels, int N, int C, int HW, int shift, float scale,
                         __global const float* scalars, __global float* x, int total)
{
    const int i = get_global_id(0);
    if (i >= total) return;
    const int noisy = scalars[4] != 0.0f;
    const uint seed_lo = as_uint(scalars[5]), seed_hi = as_uint(scalars[6]);
    const uint stream_lo = as_uint(scalars[7]), stream_hi = as_uint(scalars[8]), first = as_uint(scalars[9]);
    const int c = i / (N * HW), r = i - c * N * HW, n = r / HW, s = r - n * HW;
    const int q = (n * C + c) * HW + s;
    const uint word = as_uint(pixels[q >> 2]);
    const uint p = (word >> (8 * (q & 3))) & 255u;
    float v = (float)(p >> shift) * scale - 0.5f;
    if (noisy) {
        const uint e = first + (uint)i;
        const uint4 b = philox4x32_10(VEC(uint4)(e >> 2, 0u, stream_lo, stream_hi), VEC(uint2)(seed_lo, seed_hi));
        const uint k = e & 3u;
        const uint w = k == 0u ? b.x : k == 1u ? b.y : k == 2u ? b.z : b.w;
        v = v + (0.0f + scale * philox_unit(w));
    }
    x[i] = v;
}
