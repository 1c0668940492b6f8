#ifndef GLOW_CCUDA_H
#define GLOW_CCUDA_H
// The few CUDA driver API, NVRTC and cuBLAS declarations glow-gpu uses, written from the
// documented ABI so that no CUDA header or library is needed at build time. The libraries
// are dlopen()ed at run time by the loader (loader.c); every entry point is a function
// pointer in one of the three tables below, filled when its library loads.
#include <stddef.h>

// --- Driver API (libcuda.so.1) ------------------------------------------------------------
typedef int CUresult;                       // CUDA_SUCCESS = 0
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;     // 64-bit device address (the _v2 ABI)
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

enum {
    GLOW_CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    GLOW_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    GLOW_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    GLOW_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    GLOW_CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
    GLOW_CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
    GLOW_CU_STREAM_NON_BLOCKING = 1,
    GLOW_CU_JIT_ERROR_LOG_BUFFER = 5,
    GLOW_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
    GLOW_CU_STREAM_CAPTURE_MODE_RELAXED = 2,
};

typedef struct GlowCUDADriverAPI {
    CUresult (*cuInit)(unsigned int flags);
    CUresult (*cuDriverGetVersion)(int *version);
    CUresult (*cuGetErrorName)(CUresult error, const char **name);
    CUresult (*cuGetErrorString)(CUresult error, const char **text);
    CUresult (*cuDeviceGetCount)(int *count);
    CUresult (*cuDeviceGet)(CUdevice *device, int ordinal);
    CUresult (*cuDeviceGetName)(char *name, int length, CUdevice device);
    CUresult (*cuDeviceGetAttribute)(int *value, int attribute, CUdevice device);
    CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice device);                 // _v2
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);                      // _v2
    CUresult (*cuCtxSetCurrent)(CUcontext context);
    CUresult (*cuMemGetInfo)(size_t *free, size_t *total);                       // _v2
    CUresult (*cuMemAlloc)(CUdeviceptr *pointer, size_t bytes);                  // _v2
    CUresult (*cuMemFree)(CUdeviceptr pointer);                                  // _v2
    CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes, CUstream stream);  // _v2
    CUresult (*cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes, CUstream stream);        // _v2
    CUresult (*cuStreamCreate)(CUstream *stream, unsigned int flags);
    CUresult (*cuStreamDestroy)(CUstream stream);                                // _v2
    CUresult (*cuStreamSynchronize)(CUstream stream);
    CUresult (*cuModuleLoadDataEx)(CUmodule *module, const void *image, unsigned int count,
                                   int *options, void **values);
    CUresult (*cuModuleUnload)(CUmodule module);
    CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module, const char *name);
    CUresult (*cuFuncGetAttribute)(int *value, int attribute, CUfunction function);
    CUresult (*cuLaunchKernel)(CUfunction f, unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                               unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                               unsigned int sharedBytes, CUstream stream, void **params, void **extra);
    // CUDA Graphs (optional: NULL when the driver lacks them, and steps are then not replayed).
    CUresult (*cuStreamBeginCapture)(CUstream stream, int mode);                 // _v2 (CUDA 10.1)
    CUresult (*cuStreamEndCapture)(CUstream stream, CUgraph *graph);
    CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *exec, CUgraph graph, unsigned long long flags);  // CUDA 11.4
    CUresult (*cuGraphLaunch)(CUgraphExec exec, CUstream stream);
    CUresult (*cuGraphExecDestroy)(CUgraphExec exec);
    CUresult (*cuGraphDestroy)(CUgraph graph);
} GlowCUDADriverAPI;

// --- NVRTC (libnvrtc.so.13 / .12 / .11.2) -------------------------------------------------
typedef int nvrtcResult;                    // NVRTC_SUCCESS = 0
typedef struct _nvrtcProgram *nvrtcProgram;

typedef struct GlowNVRTCAPI {
    nvrtcResult (*nvrtcVersion)(int *major, int *minor);
    const char *(*nvrtcGetErrorString)(nvrtcResult result);
    nvrtcResult (*nvrtcGetNumSupportedArchs)(int *count);
    nvrtcResult (*nvrtcGetSupportedArchs)(int *archs);
    nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *program, const char *source, const char *name,
                                      int headerCount, const char *const *headers, const char *const *includeNames);
    nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *program);
    nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram program, int optionCount, const char *const *options);
    nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram program, char *log);
    nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetPTX)(nvrtcProgram program, char *ptx);
    nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram program, char *cubin);
} GlowNVRTCAPI;

// --- cuBLAS (libcublas.so.13 / .12 / .11) -------------------------------------------------
typedef int cublasStatus_t;                 // CUBLAS_STATUS_SUCCESS = 0
typedef struct cublasContext *cublasHandle_t;

enum {
    GLOW_CUBLAS_OP_N = 0,
    GLOW_CUBLAS_OP_T = 1,
    GLOW_CUDA_R_32F = 0,
    GLOW_CUBLAS_COMPUTE_32F = 68,
    GLOW_CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
    GLOW_CUBLAS_GEMM_DEFAULT = -1,
    GLOW_CUBLAS_DEFAULT_MATH = 0,
    GLOW_CUBLAS_PEDANTIC_MATH = 2,
};

typedef struct GlowCUBLASAPI {
    cublasStatus_t (*cublasCreate)(cublasHandle_t *handle);                      // _v2
    cublasStatus_t (*cublasDestroy)(cublasHandle_t handle);                      // _v2
    cublasStatus_t (*cublasGetProperty)(int type, int *value);   // type: 0 major, 1 minor, 2 patch
    cublasStatus_t (*cublasSetStream)(cublasHandle_t handle, CUstream stream);   // _v2
    cublasStatus_t (*cublasSetMathMode)(cublasHandle_t handle, int mode);
    cublasStatus_t (*cublasSgemm)(cublasHandle_t handle, int transa, int transb, int m, int n, int k,
                                  const float *alpha, const float *a, int lda, const float *b, int ldb,
                                  const float *beta, float *c, int ldc);        // _v2
    cublasStatus_t (*cublasGemmEx)(cublasHandle_t handle, int transa, int transb, int m, int n, int k,
                                   const void *alpha, const void *a, int aType, int lda,
                                   const void *b, int bType, int ldb, const void *beta,
                                   void *c, int cType, int ldc, int computeType, int algo);
    /// Optional (cuBLAS 11.4 on; NULL before): the workspace cuBLAS uses instead of allocating
    /// its own, which a graph capture needs at a fixed address.
    cublasStatus_t (*cublasSetWorkspace)(cublasHandle_t handle, void *workspace, size_t bytes);  // _v2
} GlowCUBLASAPI;

// --- Loader -------------------------------------------------------------------------------
// Where the libraries are looked for, and how one is chosen: loader.c's opening comment and
// docs/reliability.md ("Where CUDA is looked for").

/// The libraries the loader finds.
enum {
    GLOW_CUDA_LIBRARY_DRIVER = 0,   ///< libcuda.so.1
    GLOW_CUDA_LIBRARY_NVRTC = 1,    ///< libnvrtc.so.13 / .12 / .11.2
    GLOW_CUDA_LIBRARY_CUBLAS = 2,   ///< libcublas.so.13 / .12 / .11
};

/// What a load or a search found.
enum {
    GLOW_CUDA_FOUND = 0,              ///< loaded (or, for a search, found and usable)
    GLOW_CUDA_NOT_FOUND = 1,          ///< no candidate in any folder searched
    GLOW_CUDA_NEWER_THAN_DRIVER = 2,  ///< candidates found, all of a CUDA major newer than the driver's
    GLOW_CUDA_UNUSABLE = 3,           ///< candidates found that fail to load or lack a needed symbol
};

/// The inputs of the search, so that tests can run it on a fake tree of folders. Any string
/// may be NULL (treated as unset).
typedef struct GlowCUDASearch {
    const char *cudaPath;          ///< GLOW_CUDA_PATH: colon-separated folders, searched first
    const char *path;              ///< PATH: the prefix of every python3 on it is searched
    const char *virtualEnv;        ///< VIRTUAL_ENV
    const char *condaPrefix;       ///< CONDA_PREFIX
    const char *home;              ///< HOME (~/.local and pyenv's Pythons)
    const char *workingDirectory;  ///< where .cuda-tools is looked for first
    const char *executable;        ///< the program; .cuda-tools beside it and up to four folders above
    const char *driverDirectory;   ///< the folder libcuda.so.1 was loaded from
    const char *systemRoot;        ///< prefixed to every fixed system folder (/usr/local/cuda…); "" on a real machine
    int loaderPath;                ///< 1: also the dynamic loader's own search (a plain dlopen of the soname)
} GlowCUDASearch;

/// The search inputs of this process (its environment, working directory, executable and
/// loaded driver). The strings stay valid until the next call.
void glow_cuda_search_from_environment(GlowCUDASearch *search);
/// The folders searched for `library`, in order, one per line ("(the dynamic loader's path)"
/// for the loader's own search); returns how many.
int glow_cuda_search_folders(int library, const GlowCUDASearch *search, char *out, size_t size);
/// Runs the search for `library` as loading does, for a driver of `driverVersion`
/// (cuDriverGetVersion's 12040 for 12.4; 0: any major), but closes what it opens. Returns a
/// GLOW_CUDA_* status; `path` gets the chosen file, `message` the reason when none is, and
/// `report` one line per candidate loaded, skipped (and why) or failed.
int glow_cuda_find_library(int library, const GlowCUDASearch *search, int driverVersion, char *path, size_t pathSize,
                           char *message, size_t messageSize, char *report, size_t reportSize);

/// Loads libcuda.so.1 and resolves every driver entry point. Returns GLOW_CUDA_FOUND (0), or
/// another GLOW_CUDA_* status with the reason in `message`. Loading twice returns the first outcome.
int glow_cuda_load_driver(char *message, size_t size);
/// Loads NVRTC: the newest CUDA major the driver supports (13, 12, 11.2), searching the
/// places listed in loader.c. Same return values.
int glow_cuda_load_nvrtc(char *message, size_t size);
/// Loads cuBLAS (13, 12 or 11, as for NVRTC) with its cuBLASLt. Same return values.
int glow_cuda_load_cublas(char *message, size_t size);
/// The tables, valid after the matching load returned 0.
const GlowCUDADriverAPI *glow_cuda_driver(void);
const GlowNVRTCAPI *glow_cuda_nvrtc(void);
const GlowCUBLASAPI *glow_cuda_cublas(void);
/// The file each library was loaded from ("" before it loaded).
const char *glow_cuda_driver_path(void);
const char *glow_cuda_nvrtc_path(void);
const char *glow_cuda_cublas_path(void);
/// One line per candidate the loads so far took, skipped (and why) or failed on.
const char *glow_cuda_load_report(void);

/// Device pointers as the pointers cuBLAS takes.
static inline float *glow_cuda_float_pointer(CUdeviceptr p) { return (float *)(size_t)p; }
#endif
