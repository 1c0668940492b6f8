// glow-gpu: OpenCL C → CUDA C++ for NVRTC. The CUDA backend compiles this header followed by
// kernels.cl as one translation unit, with `-default-device` so that kernels.cl's helper
// functions (no qualifier in OpenCL C) become __device__ functions. Covers what kernels.cl
// uses: address-space qualifiers, work-item functions, barriers, the vector types with
// their arithmetic, .x/.y/.z/.w and .lo/.hi, vload/vstore and a few built-ins.
//
// Pointers into local memory: `__local` becomes `__shared__`, which may not qualify a
// parameter, so kernels.cl writes such parameters `LOCAL_PTR float* p` (empty here).
//
// Vector literals: OpenCL's `(float4)(a, b, c, d)` is, in C++, a cast of the comma
// expression `(a, b, c, d)`, i.e. a broadcast of `d`. kernels.cl writes multi-component
// literals as `VEC(float4)(a, b, c, d)`; VEC is `(T)` in OpenCL and `T` here, so C++ calls
// the four-argument constructor. One-component casts `(float16)(x)` mean the same in both.
#ifndef GLOW_CUDA_COMPAT_H
#define GLOW_CUDA_COMPAT_H

#define GLOW_CUDA 1
#define VEC(T) T

// --- Qualifiers -----------------------------------------------------------------------
#define __kernel extern "C" __global__
#define __global
#define __private
#define __constant const
#define __local __shared__
// kernels.cl's pointer parameters into __local memory: plain pointers in CUDA.
#define LOCAL_PTR
#define __read_only
#define __write_only
#define restrict __restrict__
// __attribute__((reqd_work_group_size(X, Y, Z))) becomes CUDA's launch bound on X·Y·Z threads.
#define reqd_work_group_size(x, y, z) launch_bounds((x) * (y) * (z))
// kernels.cl's tiled GEMM kernels: NDIMC·MDIMC threads, and GROUPS_PER_CU blocks resident
// per SM, so ptxas holds each thread to 65,536 / (threads · GROUPS_PER_CU) registers (the
// residency the split-K rule counts on). Expanded where kernels.cl uses it, after its tunables.
#define GEMM_GROUP __launch_bounds__(NDIMC * MDIMC, GROUPS_PER_CU)

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;

#define OCL_FN __device__ __forceinline__

// --- Work-item functions (OpenCL returns size_t) --------------------------------------
OCL_FN size_t get_local_id(uint d) { return d == 0 ? threadIdx.x : d == 1 ? threadIdx.y : d == 2 ? threadIdx.z : 0; }
OCL_FN size_t get_group_id(uint d) { return d == 0 ? blockIdx.x : d == 1 ? blockIdx.y : d == 2 ? blockIdx.z : 0; }
OCL_FN size_t get_local_size(uint d) { return d == 0 ? blockDim.x : d == 1 ? blockDim.y : d == 2 ? blockDim.z : 1; }
OCL_FN size_t get_num_groups(uint d) { return d == 0 ? gridDim.x : d == 1 ? gridDim.y : d == 2 ? gridDim.z : 1; }
OCL_FN size_t get_global_id(uint d) { return get_group_id(d) * get_local_size(d) + get_local_id(d); }
OCL_FN size_t get_global_size(uint d) { return get_num_groups(d) * get_local_size(d); }

#define CLK_LOCAL_MEM_FENCE 1
#define CLK_GLOBAL_MEM_FENCE 2
#define barrier(flags) __syncthreads()
#define mem_fence(flags) __threadfence_block()

// --- Vector types ---------------------------------------------------------------------
// Renamed by macro so they do not collide with CUDA's own float4/uint4/uint2 (which have
// no arithmetic). Components are contiguous, so `ocl_at` may index them as an array.
template <class T, int N> struct ocl_vec;

// Aligned to their size, as OpenCL's vectors are: kernels.cl's __local float4 tiles are then
// read with one 128-bit load per vector.
template <class T> struct alignas(2 * sizeof(T)) ocl_vec<T, 2> {
    T x, y;
    ocl_vec() = default;
    __device__ ocl_vec(T s) : x(s), y(s) {}
    __device__ ocl_vec(T a, T b) : x(a), y(b) {}
};
template <class T> struct alignas(4 * sizeof(T)) ocl_vec<T, 4> {
    T x, y, z, w;
    ocl_vec() = default;
    __device__ ocl_vec(T s) : x(s), y(s), z(s), w(s) {}
    __device__ ocl_vec(T a, T b, T c, T d) : x(a), y(b), z(c), w(d) {}
    __device__ ocl_vec(ocl_vec<T, 2> a, ocl_vec<T, 2> b) : x(a.x), y(a.y), z(b.x), w(b.y) {}
};
template <class T> struct ocl_vec<T, 8> {
    ocl_vec<T, 4> lo, hi;
    ocl_vec() = default;
    __device__ ocl_vec(T s) : lo(s), hi(s) {}
    __device__ ocl_vec(ocl_vec<T, 4> a, ocl_vec<T, 4> b) : lo(a), hi(b) {}
};
template <class T> struct ocl_vec<T, 16> {
    ocl_vec<T, 8> lo, hi;
    ocl_vec() = default;
    __device__ ocl_vec(T s) : lo(s), hi(s) {}
    __device__ ocl_vec(ocl_vec<T, 8> a, ocl_vec<T, 8> b) : lo(a), hi(b) {}
};

template <class T, int N> OCL_FN T &ocl_at(ocl_vec<T, N> &v, int i) { return reinterpret_cast<T *>(&v)[i]; }
template <class T, int N> OCL_FN T ocl_at(const ocl_vec<T, N> &v, int i) { return reinterpret_cast<const T *>(&v)[i]; }

#define OCL_VEC_OPERATOR(op)                                                                          \
    template <class T, int N> OCL_FN ocl_vec<T, N> &operator op##=(ocl_vec<T, N> &a, const ocl_vec<T, N> &b) { \
        _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) op##= ocl_at(b, i);                \
        return a;                                                                                     \
    }                                                                                                 \
    template <class T, int N> OCL_FN ocl_vec<T, N> &operator op##=(ocl_vec<T, N> &a, T b) {           \
        _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) op##= b;                           \
        return a;                                                                                     \
    }                                                                                                 \
    template <class T, int N> OCL_FN ocl_vec<T, N> operator op(ocl_vec<T, N> a, const ocl_vec<T, N> &b) { return a op##= b; } \
    template <class T, int N> OCL_FN ocl_vec<T, N> operator op(ocl_vec<T, N> a, T b) { return a op##= b; } \
    template <class T, int N> OCL_FN ocl_vec<T, N> operator op(T a, const ocl_vec<T, N> &b) { ocl_vec<T, N> r(a); return r op##= b; }
OCL_VEC_OPERATOR(+)
OCL_VEC_OPERATOR(-)
OCL_VEC_OPERATOR(*)
OCL_VEC_OPERATOR(/)
OCL_VEC_OPERATOR(^)
OCL_VEC_OPERATOR(&)
OCL_VEC_OPERATOR(|)
#undef OCL_VEC_OPERATOR
template <class T, int N> OCL_FN ocl_vec<T, N> operator-(ocl_vec<T, N> a) {
    _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) = -ocl_at(a, i);
    return a;
}

#define float2 ocl_vec<float, 2>
#define float4 ocl_vec<float, 4>
#define float8 ocl_vec<float, 8>
#define float16 ocl_vec<float, 16>
#define int2 ocl_vec<int, 2>
#define int4 ocl_vec<int, 4>
#define uint2 ocl_vec<uint, 2>
#define uint4 ocl_vec<uint, 4>

// --- Loads and stores: element by element (OpenCL requires only scalar alignment) -----
#define OCL_VLOAD_VSTORE(n)                                                                     \
    template <class T> OCL_FN ocl_vec<T, n> vload##n(size_t offset, const T *p) {              \
        ocl_vec<T, n> v;                                                                       \
        p += offset * n;                                                                       \
        _Pragma("unroll") for (int i = 0; i < n; ++i) ocl_at(v, i) = p[i];                     \
        return v;                                                                              \
    }                                                                                          \
    template <class T> OCL_FN void vstore##n(const ocl_vec<T, n> &v, size_t offset, T *p) {    \
        p += offset * n;                                                                       \
        _Pragma("unroll") for (int i = 0; i < n; ++i) p[i] = ocl_at(v, i);                     \
    }
OCL_VLOAD_VSTORE(2)
OCL_VLOAD_VSTORE(4)
OCL_VLOAD_VSTORE(8)
OCL_VLOAD_VSTORE(16)
#undef OCL_VLOAD_VSTORE

// --- Built-ins ------------------------------------------------------------------------
// Scalar exp, log, sqrt, sin, cos, fabs, fmin, fmax, fma, min, max come from CUDA's float
// and int overloads; these add the vector forms and OpenCL's extra names.
template <int N> OCL_FN ocl_vec<float, N> fma(ocl_vec<float, N> a, const ocl_vec<float, N> &b, const ocl_vec<float, N> &c) {
    _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) = fmaf(ocl_at(a, i), ocl_at(b, i), ocl_at(c, i));
    return a;
}
template <int N> OCL_FN ocl_vec<float, N> mad(const ocl_vec<float, N> &a, const ocl_vec<float, N> &b, const ocl_vec<float, N> &c) {
    return fma(a, b, c);
}
template <int N> OCL_FN ocl_vec<float, N> fmax(ocl_vec<float, N> a, const ocl_vec<float, N> &b) {
    _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) = fmaxf(ocl_at(a, i), ocl_at(b, i));
    return a;
}
template <int N> OCL_FN ocl_vec<float, N> fmin(ocl_vec<float, N> a, const ocl_vec<float, N> &b) {
    _Pragma("unroll") for (int i = 0; i < N; ++i) ocl_at(a, i) = fminf(ocl_at(a, i), ocl_at(b, i));
    return a;
}
OCL_FN float mad(float a, float b, float c) { return fmaf(a, b, c); }
OCL_FN uint mul_hi(uint a, uint b) { return __umulhi(a, b); }
OCL_FN int mul_hi(int a, int b) { return __mulhi(a, b); }
OCL_FN int mad24(int a, int b, int c) { return __mul24(a, b) + c; }
OCL_FN int mul24(int a, int b) { return __mul24(a, b); }
OCL_FN float clamp(float x, float lo, float hi) { return fminf(fmaxf(x, lo), hi); }
OCL_FN int clamp(int x, int lo, int hi) { return min(max(x, lo), hi); }
OCL_FN float native_exp(float x) { return __expf(x); }
OCL_FN float native_log(float x) { return __logf(x); }
OCL_FN float native_recip(float x) { return __frcp_rn(x); }
OCL_FN float native_divide(float a, float b) { return __fdividef(a, b); }
OCL_FN float as_float(uint x) { return __uint_as_float(x); }
OCL_FN uint as_uint(float x) { return __float_as_uint(x); }
OCL_FN int as_int(float x) { return __float_as_int(x); }

#endif
