// A CPU stand-in for libcuda.so.1 and libcublas.so, for testing the CUDA backend's Swift
// side on a machine without a GPU (Tests/GlowTests/GPU/CUDAEmulatorTests.swift builds it with
// clang++ and points GLOW_CUDA_PATH at it). It implements the driver and cuBLAS entry points
// Sources/CCUDA declares, with host memory as "device" memory, and runs kernels.cl's CUDA
// translation (cuda_compat.h) on the CPU: every launch's blocks one after another, a block's
// threads as fibers that switch at __syncthreads(), so __local tiles and barriers behave as
// on a GPU. cublasGemmEx with the TF32 compute type rounds its inputs to TF32 (10-bit
// mantissa) before an FP32 product. Device memory is host memory, counted against an
// emulated total (1 GiB, or GLOW_EMU_MEMORY_BYTES): cuMemGetInfo reports what is left and
// cuMemAlloc fails with CUDA_ERROR_OUT_OF_MEMORY beyond it. Stream capture records kernel
// launches (their arguments copied, as the driver does) and cuBLAS calls into a graph
// instead of running them; cuGraphLaunch runs the recorded list in order. A copy or a wait
// while capturing fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, as on a GPU for pageable
// memory. GLOW_EMU_DRIVER_VERSION sets what
// cuDriverGetVersion reports (default 13000, CUDA 13.0); GLOW_EMU_NO_DEVICE makes it a driver
// that sees no device. Not a simulator of timing or warps.
// The entry points' types and constants (attributes, compute types) come from the header the
// backend is built with, Sources/CCUDA/include/CCUDA.h.
// Build: clang++ -std=c++17 -O1 -shared -fPIC -I Sources/Kernels -I Sources/CCUDA/include -DGLOW_EMU_KERNELS="X(k1) X(k2) …"
extern "C" {
#include "CCUDA.h"
}
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <csetjmp>
#include <cstring>
#include <functional>
#include <string>
#include <ucontext.h>
#include <unordered_map>
#include <utility>
#include <vector>

// --- What NVRTC provides and cuda_compat.h uses, on the host ---------------------------
#define __device__
#define __forceinline__ inline
#define __global__
#define __shared__ static
#define __restrict__
#define __launch_bounds__(...)
struct EmuDim { unsigned x, y, z; };
static EmuDim threadIdx, blockIdx, blockDim, gridDim;
static void emu_syncthreads();
inline void __syncthreads() { emu_syncthreads(); }
inline void __threadfence_block() {}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((int64_t)a * b) >> 32); }
inline int __mul24(int a, int b) { return a * b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __uint_as_float(unsigned x) { float f; memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
inline int __float_as_int(float x) { int u; memcpy(&u, &x, 4); return u; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline float exp(float x) { return expf(x); }
inline float log(float x) { return logf(x); }
inline float sqrt(float x) { return sqrtf(x); }
inline float sin(float x) { return sinf(x); }
inline float cos(float x) { return cosf(x); }
inline float fabs(float x) { return fabsf(x); }
inline float fmax(float a, float b) { return fmaxf(a, b); }
inline float fmin(float a, float b) { return fminf(a, b); }
inline float fma(float a, float b, float c) { return fmaf(a, b, c); }

#include "cuda_compat.h"
#include "../../kernels.cl"

// The emulator's own check of its barriers (CUDAEmulatorTests): a tiled transpose whose
// result is right only if no thread reads the tile before every thread has written it.
__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void emulator_transpose(__global const float *x, __global float *y, int n) {
    __local float tile[16][17];
    const int i = get_local_id(0), j = get_local_id(1);
    tile[j][i] = x[(get_group_id(1) * 16 + j) * n + get_group_id(0) * 16 + i];
    barrier(CLK_LOCAL_MEM_FENCE);
    y[(get_group_id(0) * 16 + j) * n + get_group_id(1) * 16 + i] = tile[i][j];
}

// --- Kernels by name ------------------------------------------------------------------
typedef void (*EmuEntry)(void **);
template <class... A, size_t... I>
static void emu_invoke(void (*f)(A...), void **p, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type *>(p[I])...);
}
template <class... A> static void emu_call(void (*f)(A...), void **p) { emu_invoke(f, p, std::index_sequence_for<A...>{}); }
// The size of each of a kernel's parameters, for copying a captured launch's arguments.
template <class... A> static std::vector<size_t> emu_arg_sizes(void (*)(A...)) {
    return {sizeof(typename std::remove_reference<A>::type)...};
}
struct EmuFunction { const char *name; EmuEntry entry; int usesBarriers; std::vector<size_t> (*argSizes)(); };
#define X(k) {#k, [](void **p) { emu_call(k, p); }, -1, [] { return emu_arg_sizes(k); }},
static EmuFunction emu_functions[] = {GLOW_EMU_KERNELS X(emulator_transpose)};
#undef X

// --- Fibers for one block --------------------------------------------------------------
struct EmuFiber { ucontext_t context; std::vector<char> stack; bool done; EmuDim tid; };
static std::vector<EmuFiber> fibers;
static ucontext_t scheduler;
static int current = -1;          // the fiber running, -1 when threads run directly
static bool barrierHit;
static EmuEntry runningEntry;
static void **runningParams;

static jmp_buf directEscape;
static void emu_syncthreads() {
    barrierHit = true;
    // Direct mode: leave the kernel at its first barrier, before it writes anything past it;
    // the launch then runs the block as fibers.
    if (current < 0) longjmp(directEscape, 1);
    swapcontext(&fibers[current].context, &scheduler);
}
static void emu_fiber_main() {
    runningEntry(runningParams);
    fibers[current].done = true;  // returning resumes `scheduler` (uc_link)
}
static void emu_block_as_fibers(unsigned threads) {
    if (fibers.size() < threads) fibers.resize(threads);
    for (unsigned t = 0; t < threads; ++t) {
        EmuFiber &f = fibers[t];
        if (f.stack.empty()) f.stack.resize(256 * 1024);
        f.done = false;
        f.tid = {t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y)};
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.data();
        f.context.uc_stack.ss_size = f.stack.size();
        f.context.uc_link = &scheduler;
        makecontext(&f.context, emu_fiber_main, 0);
    }
    // Round robin: each live fiber runs to its next barrier or its end, so no fiber passes
    // a barrier before every live fiber of the block has reached it.
    for (bool live = true; live;) {
        live = false;
        for (unsigned t = 0; t < threads; ++t) {
            if (fibers[t].done) continue;
            live = true;
            current = (int)t;
            threadIdx = fibers[t].tid;
            swapcontext(&scheduler, &fibers[t].context);
        }
    }
    current = -1;
}

// --- Counters, printed at exit -----------------------------------------------------------
// `launches` counts cuLaunchKernel calls that ran a kernel (not those captured into a graph);
// a graph's kernels count under `replayed`.
static long launches, sgemms, tf32Gemms, allocations, frees, graphLaunches, captured, replayed;
static size_t usedBytes, peakBytes;
__attribute__((destructor)) static void emu_report() {
    // Tests read the numbers in this order (CUDAEmulatorTests.counters); add new ones at the end.
    fprintf(stderr, "cuda-emulator: %ld launches, %ld allocations, %ld cublasSgemm, %ld cublasGemmEx(TF32), %ld frees, "
            "%zu peak bytes, %ld graph launches, %ld captured operations, %ld replayed operations\n", launches, allocations,
            sgemms, tf32Gemms, frees, peakBytes, graphLaunches, captured, replayed);
}

// --- Stream capture ------------------------------------------------------------------------
// One stream, so one capture at a time: while `capturing`, launches and GEMMs append to it.
typedef std::vector<std::function<void()>> EmuGraph;
static EmuGraph *capturing;
static const int EMU_CAPTURE_UNSUPPORTED = 900;   // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED

// --- Emulated device memory ----------------------------------------------------------------
static size_t emu_env_size(const char *name, size_t fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end = nullptr;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n == 0) {
        fprintf(stderr, "cuda-emulator: %s=%s is not a positive whole number; using %zu\n", name, v, fallback);
        return fallback;
    }
    return (size_t)n;
}
static size_t emu_total_bytes() {
    static size_t total = emu_env_size("GLOW_EMU_MEMORY_BYTES", (size_t)1 << 30);
    return total;
}
static std::unordered_map<uintptr_t, size_t> &emu_sizes() {
    // Never destroyed: buffers may still be freed while the process exits.
    static auto *sizes = new std::unordered_map<uintptr_t, size_t>();
    return *sizes;
}

// --- Driver API ------------------------------------------------------------------------
extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = (int)emu_env_size("GLOW_EMU_DRIVER_VERSION", 13000); return 0; }
CUresult cuGetErrorName(CUresult e, const char **s) {
    static char buf[64];
    snprintf(buf, sizeof buf, "CUDA_EMULATOR_ERROR_%d", e);
    *s = buf;
    return 0;
}
CUresult cuGetErrorString(CUresult e, const char **s) { return cuGetErrorName(e, s); }
CUresult cuDeviceGetCount(int *n) { *n = getenv("GLOW_EMU_NO_DEVICE") ? 0 : 1; return 0; }
CUresult cuDeviceGet(int *d, int i) { if (i != 0 || getenv("GLOW_EMU_NO_DEVICE")) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char *name, int len, int) { snprintf(name, len, "glow-gpu CUDA emulator (CPU)"); return 0; }
CUresult cuDeviceGetAttribute(int *v, int a, int) {
    switch (a) {
    case GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case GLOW_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 1; break;
    case GLOW_CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case GLOW_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 * 1024; break;
    default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int) { *b = emu_total_bytes(); return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int) { static int ctx; *c = &ctx; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
CUresult cuCtxSetCurrent(void *) { return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
    if (!f || !t) return 1;
    *t = emu_total_bytes();
    *f = *t - usedBytes;
    return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    if (!p || bytes == 0) return 1;
    if (bytes > emu_total_bytes() - usedBytes) return 2;   // CUDA_ERROR_OUT_OF_MEMORY
    void *m = malloc(bytes);
    if (!m) return 2;
    memset(m, 0xff, bytes);   // NaN: reading memory never written shows up in results
    ++allocations;
    usedBytes += bytes;
    if (usedBytes > peakBytes) peakBytes = usedBytes;
    emu_sizes()[(uintptr_t)m] = bytes;
    *p = (CUdeviceptr)(uintptr_t)m;
    return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    auto it = emu_sizes().find((uintptr_t)p);
    if (it == emu_sizes().end()) return 1;   // not from cuMemAlloc, or freed twice
    usedBytes -= it->second;
    emu_sizes().erase(it);
    ++frees;
    free((void *)(uintptr_t)p);
    return 0;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *) {
    if (capturing) return EMU_CAPTURE_UNSUPPORTED;
    memcpy((void *)(uintptr_t)d, s, n);
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *) {
    if (capturing) return EMU_CAPTURE_UNSUPPORTED;
    memcpy(d, (void *)(uintptr_t)s, n);
    return 0;
}
CUresult cuStreamCreate(void **s, unsigned) { static int stream; *s = &stream; return 0; }
CUresult cuStreamDestroy_v2(void *) { return 0; }
CUresult cuStreamSynchronize(void *) { return capturing ? EMU_CAPTURE_UNSUPPORTED : 0; }
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned, int *, void **) {
    // The image is NVRTC's real CUBIN or PTX; its kernels run from this library instead.
    if (!image) return 1;
    static int module;
    *m = &module;
    return 0;
}
CUresult cuModuleUnload(void *) { return 0; }
CUresult cuModuleGetFunction(void **f, void *, const char *name) {
    for (auto &e : emu_functions)
        if (strcmp(e.name, name) == 0) { *f = &e; return 0; }
    return 500;   // CUDA_ERROR_NOT_FOUND
}
CUresult cuFuncGetAttribute(int *v, int, void *) { *v = 0; return 0; }
static void emu_launch(EmuFunction *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       void **params);
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *, void **params, void **extra) {
    if (!f || !params || extra || shared || bx * by * bz == 0 || bx * by * bz > 1024 || gx * gy * gz == 0) return 1;
    EmuFunction *fn = (EmuFunction *)f;
    if (capturing) {
        // The arguments' values now, as the driver copies them at capture.
        std::vector<std::vector<char>> args;
        for (size_t i = 0, n = fn->argSizes().size(); i < n; ++i) {
            const size_t size = fn->argSizes()[i];
            args.emplace_back((const char *)params[i], (const char *)params[i] + size);
        }
        capturing->push_back([=]() mutable {
            std::vector<void *> p;
            for (auto &a : args) p.push_back(a.data());
            ++replayed;
            emu_launch(fn, gx, gy, gz, bx, by, bz, p.data());
        });
        ++captured;
        return 0;
    }
    ++launches;
    emu_launch(fn, gx, gy, gz, bx, by, bz, params);
    return 0;
}
static void emu_launch(EmuFunction *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       void **params) {
    blockDim = {bx, by, bz};
    gridDim = {gx, gy, gz};
    runningEntry = fn->entry;
    runningParams = params;
    const unsigned threads = bx * by * bz;
    for (unsigned z = 0; z < gz; ++z)
        for (unsigned y = 0; y < gy; ++y)
            for (unsigned x = 0; x < gx; ++x) {
                blockIdx = {x, y, z};
                if (fn->usesBarriers == 1) { emu_block_as_fibers(threads); continue; }
                // Until a kernel is seen to use barriers, run its threads directly. The first
                // thread that reaches one leaves at the barrier, and the block is run as fibers
                // (threads before it ran whole, so a kernel that writes global memory before
                // its first barrier and then accumulates into it would be counted twice: none
                // of kernels.cl's does).
                barrierHit = false;
                for (unsigned t = 0; t < threads && !barrierHit; ++t) {
                    threadIdx = {t % bx, t / bx % by, t / (bx * by)};
                    if (setjmp(directEscape) == 0) fn->entry(params);
                }
                if (barrierHit) { fn->usesBarriers = 1; emu_block_as_fibers(threads); }
                else if (fn->usesBarriers < 0 && x + y + z == 0) fn->usesBarriers = 0;
            }
}

// --- Graphs -------------------------------------------------------------------------------
CUresult cuStreamBeginCapture_v2(void *, int) {
    if (capturing) return 1;
    capturing = new EmuGraph();
    return 0;
}
CUresult cuStreamEndCapture(void *, void **graph) {
    if (!capturing || !graph) return 1;
    *graph = capturing;
    capturing = nullptr;
    return 0;
}
CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long) {
    if (!exec || !graph) return 1;
    *exec = new EmuGraph(*(EmuGraph *)graph);
    return 0;
}
CUresult cuGraphLaunch(void *exec, void *) {
    if (!exec || capturing) return 1;
    ++graphLaunches;
    for (auto &node : *(EmuGraph *)exec) node();
    return 0;
}
CUresult cuGraphExecDestroy(void *exec) { delete (EmuGraph *)exec; return 0; }
CUresult cuGraphDestroy(void *graph) { delete (EmuGraph *)graph; return 0; }

// --- cuBLAS (column-major) ------------------------------------------------------------
cublasStatus_t cublasCreate_v2(void **h) { static int handle; *h = &handle; return 0; }
cublasStatus_t cublasDestroy_v2(void *) { return 0; }
cublasStatus_t cublasSetStream_v2(void *, void *) { return 0; }
cublasStatus_t cublasSetMathMode(void *, int) { return 0; }
cublasStatus_t cublasGetProperty(int type, int *v) { *v = type == 0 ? 13 : 0; return 0; }

static float tf32(float x) {   // round to nearest even at 10 mantissa bits
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0xfff + ((u >> 13) & 1);
    u &= ~0x1fffu;
    memcpy(&x, &u, 4);
    return x;
}
static cublasStatus_t emu_gemm(int opA, int opB, int m, int n, int k, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc, bool round) {
    const bool ta = opA != GLOW_CUBLAS_OP_N, tb = opB != GLOW_CUBLAS_OP_N;
    if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m) return 7;
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            double s = 0;
            for (int l = 0; l < k; ++l) {
                float x = ta ? a[l + (size_t)i * lda] : a[i + (size_t)l * lda];
                float y = tb ? b[j + (size_t)l * ldb] : b[l + (size_t)j * ldb];
                if (round) { x = tf32(x); y = tf32(y); }
                s += (double)x * y;
            }
            float *out = &c[i + (size_t)j * ldc];
            *out = beta == 0 ? alpha * (float)s : alpha * (float)s + beta * *out;
        }
    return 0;
}
static size_t workspaceBytes;
cublasStatus_t cublasSetWorkspace_v2(void *, void *w, size_t bytes) {
    if (!w && bytes) return 7;
    workspaceBytes = bytes;
    return 0;
}
// A GEMM now, or (capturing) into the graph with alpha and beta as they are now, as cuBLAS's
// host pointer mode reads them at capture.
static cublasStatus_t emu_gemm_or_capture(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                          const float *b, int ldb, float beta, float *c, int ldc, bool round) {
    if (capturing) {
        if (m < 0 || n < 0 || k < 0) return 7;
        capturing->push_back([=] { ++replayed; emu_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, round); });
        ++captured;
        return 0;
    }
    return emu_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, round);
}
cublasStatus_t cublasSgemm_v2(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                              const float *b, int ldb, const float *beta, float *c, int ldc) {
    ++sgemms;
    return emu_gemm_or_capture(ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc, false);
}
cublasStatus_t cublasGemmEx(void *, int ta, int tb, int m, int n, int k, const void *alpha, const void *a, int at, int lda,
                            const void *b, int bt, int ldb, const void *beta, void *c, int ct, int ldc, int compute, int) {
    const bool tf32 = compute == GLOW_CUBLAS_COMPUTE_32F_FAST_TF32;
    if (at != GLOW_CUDA_R_32F || bt != GLOW_CUDA_R_32F || ct != GLOW_CUDA_R_32F || (compute != GLOW_CUBLAS_COMPUTE_32F && !tf32))
        return 15;   // CUBLAS_STATUS_NOT_SUPPORTED: only FP32 data
    if (tf32) ++tf32Gemms;
    return emu_gemm_or_capture(ta, tb, m, n, k, *(const float *)alpha, (const float *)a, lda, (const float *)b, ldb,
                               *(const float *)beta, (float *)c, ldc, tf32);
}
}
