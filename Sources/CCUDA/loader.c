// Finds and opens the CUDA libraries at run time. Search order for each library, each
// versioned name (newest first) tried everywhere before the next name:
//   1. every folder of GLOW_CUDA_PATH (colon-separated; a folder, or a toolkit root whose
//      lib64/ or lib/ is tried too),
//   2. the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig's cache),
//   3. /usr/local/nvidia/lib64, /usr/local/cuda/lib64, /usr/local/cuda-*/lib64 (newest first),
//      /usr/lib/wsl/lib,
//   4. the nvidia/*/lib folders of a project-local pip folder (.cuda-tools, in the working
//      directory or beside/above the executable) and of Python's site-packages (virtualenv,
//      conda, ~/.local, /usr/local/lib, /usr/lib, pyenv).
#define _GNU_SOURCE
#include "CCUDA.h"
#include <dlfcn.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DIRS 128

typedef struct {
    char *items[MAX_DIRS];
    int count;
} DirList;

static void add_dir(DirList *l, const char *d) {
    if (l->count >= MAX_DIRS || d == NULL || d[0] == 0) return;
    for (int i = 0; i < l->count; ++i)
        if (strcmp(l->items[i], d) == 0) return;
    l->items[l->count++] = strdup(d);
}

// Adds the matches of `pattern`, in reverse lexical order so that cuda-13.0 precedes cuda-12.4.
static void add_glob(DirList *l, const char *pattern) {
    glob_t g;
    if (glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i > 0; --i) add_dir(l, g.gl_pathv[i - 1]);
    }
    globfree(&g);
}

static void add_pip_tree(DirList *l, const char *root) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/nvidia/*/lib", root);
    add_glob(l, p);
}

static void build_dirs(DirList *l) {
    const char *env = getenv("GLOW_CUDA_PATH");
    if (env && env[0]) {
        char *copy = strdup(env), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char p[PATH_MAX];
            add_dir(l, d);
            snprintf(p, sizeof p, "%s/lib64", d); add_dir(l, p);
            snprintf(p, sizeof p, "%s/lib", d); add_dir(l, p);
            add_pip_tree(l, d);
        }
        free(copy);
    }
    add_dir(l, "");   // the dynamic loader's own search: marker, handled in try_open
    add_dir(l, "/usr/local/nvidia/lib64");
    add_dir(l, "/usr/local/cuda/lib64");
    add_glob(l, "/usr/local/cuda-*/lib64");
    add_glob(l, "/usr/local/cuda*/targets/*/lib");
    add_dir(l, "/usr/lib/wsl/lib");
    // Project-local pip folder: the working directory, then the executable's folder and up
    // to four folders above it (.build/debug/glow-gpu → the package root).
    char cwd[PATH_MAX], p[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) { snprintf(p, sizeof p, "%s/.cuda-tools", cwd); add_pip_tree(l, p); }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 5; ++up) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe) break;
            *slash = 0;
            snprintf(p, sizeof p, "%s/.cuda-tools", exe);
            add_pip_tree(l, p);
        }
    }
    const char *venv = getenv("VIRTUAL_ENV"), *conda = getenv("CONDA_PREFIX"), *home = getenv("HOME");
    if (venv) { snprintf(p, sizeof p, "%s/lib/python3*/site-packages", venv); add_glob(l, p); }
    if (conda) { snprintf(p, sizeof p, "%s/lib/python3*/site-packages", conda); add_glob(l, p); }
    if (home) { snprintf(p, sizeof p, "%s/.local/lib/python3*/site-packages", home); add_glob(l, p); }
    if (home) { snprintf(p, sizeof p, "%s/.pyenv/versions/*/lib/python3*/site-packages", home); add_glob(l, p); }
    add_glob(l, "/usr/local/lib/python3*/dist-packages");
    add_glob(l, "/usr/local/lib/python3*/site-packages");
    add_glob(l, "/usr/lib/python3/dist-packages");
    add_glob(l, "/usr/lib/python3*/site-packages");
    add_glob(l, "/opt/conda/lib/python3*/site-packages");
    // The site-packages folders above hold nvidia/<component>/lib.
    int sites = l->count;
    for (int i = 0; i < sites; ++i)
        if (strstr(l->items[i], "-packages")) add_pip_tree(l, l->items[i]);
}

static void free_dirs(DirList *l) {
    for (int i = 0; i < l->count; ++i) free(l->items[i]);
    l->count = 0;
}

typedef struct {
    void *handle;
    char path[PATH_MAX];
    int status;          // 0 loaded, -1 failed, 1 not tried yet
    char message[1024];
} Library;

// Opens the first of `names` found; `companions[n]` (a glob pattern, may be NULL) is opened
// first from the same folder with RTLD_GLOBAL, for a library the first one needs but may not
// find without an RPATH (cuBLASLt for cuBLAS, the builtins NVRTC loads at compile time).
static void *open_first(const char *const *names, const char *const *companions, int count,
                        char *found, size_t foundSize, char *lastError, size_t errSize) {
    DirList dirs = {{0}, 0};
    build_dirs(&dirs);
    void *h = NULL;
    for (int n = 0; n < count && !h; ++n) {
        for (int d = 0; d < dirs.count && !h; ++d) {
            char path[PATH_MAX];
            if (dirs.items[d][0] == 0) snprintf(path, sizeof path, "%s", names[n]);
            else {
                snprintf(path, sizeof path, "%s/%s", dirs.items[d], names[n]);
                if (access(path, R_OK) != 0) continue;
                if (companions && companions[n]) {
                    char cp[PATH_MAX];
                    glob_t g;
                    snprintf(cp, sizeof cp, "%s/%s", dirs.items[d], companions[n]);
                    if (glob(cp, 0, NULL, &g) == 0 && g.gl_pathc > 0) dlopen(g.gl_pathv[0], RTLD_NOW | RTLD_GLOBAL);
                    globfree(&g);
                }
            }
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (h) {
                // Report the real file for a name the dynamic loader resolved itself.
                if (dirs.items[d][0] == 0 && dlinfo(h, RTLD_DI_ORIGIN, found) == 0) {
                    size_t len = strlen(found);
                    snprintf(found + len, foundSize - len, "/%s", names[n]);
                } else {
                    snprintf(found, foundSize, "%s", path);
                }
            } else if (dirs.items[d][0] != 0) {
                const char *e = dlerror();
                snprintf(lastError, errSize, "%s", e ? e : "dlopen failed");
            }
        }
    }
    free_dirs(&dirs);
    return h;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Library driverLib = {.status = 1}, nvrtcLib = {.status = 1}, cublasLib = {.status = 1};
static GlowCUDADriverAPI driverAPI;
static GlowNVRTCAPI nvrtcAPI;
static GlowCUBLASAPI cublasAPI;

// Resolves `name` (trying `name` + "_v2" first when `v2`), or records which symbol is missing.
static void *resolve(Library *lib, const char *name, int v2) {
    if (lib->status == -1) return NULL;
    void *f = NULL;
    if (v2) {
        char n[128];
        snprintf(n, sizeof n, "%s_v2", name);
        f = dlsym(lib->handle, n);
    }
    if (!f) f = dlsym(lib->handle, name);
    if (!f) {
        snprintf(lib->message, sizeof lib->message, "%s has no symbol %s%s", lib->path, name, v2 ? "_v2" : "");
        lib->status = -1;
    }
    return f;
}

static int finish(Library *lib, char *message, size_t size) {
    if (lib->status != 0 && message && size) snprintf(message, size, "%s", lib->message);
    return lib->status == 0 ? 0 : -1;
}

static void missing(Library *lib, const char *what, const char *lastError) {
    lib->status = -1;
    snprintf(lib->message, sizeof lib->message,
             "%s not found (searched GLOW_CUDA_PATH%s, the loader's path, /usr/local/nvidia/lib64, "
             "/usr/local/cuda*/lib64 and Python's nvidia/*/lib folders)%s%s",
             what, getenv("GLOW_CUDA_PATH") ? "" : " (unset)", lastError[0] ? "; last error: " : "", lastError);
}

#define R(lib, table, field, name, v2) table.field = (__typeof__(table.field))resolve(&lib, name, v2)

int glow_cuda_load_driver(char *message, size_t size) {
    pthread_mutex_lock(&lock);
    if (driverLib.status == 1) {
        // Only libcuda.so.1: the unversioned libcuda.so of a toolkit is usually its stub,
        // which fails every call with CUDA_ERROR_STUB_LIBRARY.
        const char *names[] = {"libcuda.so.1"};
        char err[512] = "";
        driverLib.handle = open_first(names, NULL, 1, driverLib.path, sizeof driverLib.path, err, sizeof err);
        if (!driverLib.handle) missing(&driverLib, "no NVIDIA driver: libcuda.so.1", err);
        else {
            driverLib.status = 0;
            R(driverLib, driverAPI, cuInit, "cuInit", 0);
            R(driverLib, driverAPI, cuDriverGetVersion, "cuDriverGetVersion", 0);
            R(driverLib, driverAPI, cuGetErrorName, "cuGetErrorName", 0);
            R(driverLib, driverAPI, cuGetErrorString, "cuGetErrorString", 0);
            R(driverLib, driverAPI, cuDeviceGetCount, "cuDeviceGetCount", 0);
            R(driverLib, driverAPI, cuDeviceGet, "cuDeviceGet", 0);
            R(driverLib, driverAPI, cuDeviceGetName, "cuDeviceGetName", 0);
            R(driverLib, driverAPI, cuDeviceGetAttribute, "cuDeviceGetAttribute", 0);
            R(driverLib, driverAPI, cuDeviceTotalMem, "cuDeviceTotalMem", 1);
            R(driverLib, driverAPI, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", 0);
            R(driverLib, driverAPI, cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease", 1);
            R(driverLib, driverAPI, cuCtxSetCurrent, "cuCtxSetCurrent", 0);
            R(driverLib, driverAPI, cuMemGetInfo, "cuMemGetInfo", 1);
            R(driverLib, driverAPI, cuMemAlloc, "cuMemAlloc", 1);
            R(driverLib, driverAPI, cuMemFree, "cuMemFree", 1);
            R(driverLib, driverAPI, cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync", 1);
            R(driverLib, driverAPI, cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync", 1);
            R(driverLib, driverAPI, cuStreamCreate, "cuStreamCreate", 0);
            R(driverLib, driverAPI, cuStreamDestroy, "cuStreamDestroy", 1);
            R(driverLib, driverAPI, cuStreamSynchronize, "cuStreamSynchronize", 0);
            R(driverLib, driverAPI, cuModuleLoadDataEx, "cuModuleLoadDataEx", 0);
            R(driverLib, driverAPI, cuModuleUnload, "cuModuleUnload", 0);
            R(driverLib, driverAPI, cuModuleGetFunction, "cuModuleGetFunction", 0);
            R(driverLib, driverAPI, cuFuncGetAttribute, "cuFuncGetAttribute", 0);
            R(driverLib, driverAPI, cuLaunchKernel, "cuLaunchKernel", 0);
        }
    }
    int r = finish(&driverLib, message, size);
    pthread_mutex_unlock(&lock);
    return r;
}

int glow_cuda_load_nvrtc(char *message, size_t size) {
    pthread_mutex_lock(&lock);
    if (nvrtcLib.status == 1) {
        const char *names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"};
        char err[512] = "";
        const char *companions[] = {"libnvrtc-builtins.so.13*", "libnvrtc-builtins.so.12*", "libnvrtc-builtins.so*"};
        nvrtcLib.handle = open_first(names, companions, 3, nvrtcLib.path, sizeof nvrtcLib.path, err, sizeof err);
        if (!nvrtcLib.handle) missing(&nvrtcLib, "NVRTC (libnvrtc.so.13 or .12)", err);
        else {
            nvrtcLib.status = 0;
            R(nvrtcLib, nvrtcAPI, nvrtcVersion, "nvrtcVersion", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetErrorString, "nvrtcGetErrorString", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetNumSupportedArchs, "nvrtcGetNumSupportedArchs", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetSupportedArchs, "nvrtcGetSupportedArchs", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcCreateProgram, "nvrtcCreateProgram", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcDestroyProgram, "nvrtcDestroyProgram", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcCompileProgram, "nvrtcCompileProgram", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetProgramLog, "nvrtcGetProgramLog", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetPTXSize, "nvrtcGetPTXSize", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetPTX, "nvrtcGetPTX", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetCUBINSize, "nvrtcGetCUBINSize", 0);
            R(nvrtcLib, nvrtcAPI, nvrtcGetCUBIN, "nvrtcGetCUBIN", 0);
        }
    }
    int r = finish(&nvrtcLib, message, size);
    pthread_mutex_unlock(&lock);
    return r;
}

int glow_cuda_load_cublas(char *message, size_t size) {
    pthread_mutex_lock(&lock);
    if (cublasLib.status == 1) {
        const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
        const char *companions[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
        char err[512] = "";
        cublasLib.handle = open_first(names, companions, 3, cublasLib.path, sizeof cublasLib.path, err, sizeof err);
        if (!cublasLib.handle) missing(&cublasLib, "cuBLAS (libcublas.so.13 or .12)", err);
        else {
            cublasLib.status = 0;
            R(cublasLib, cublasAPI, cublasCreate, "cublasCreate", 1);
            R(cublasLib, cublasAPI, cublasDestroy, "cublasDestroy", 1);
            R(cublasLib, cublasAPI, cublasGetProperty, "cublasGetProperty", 0);
            R(cublasLib, cublasAPI, cublasSetStream, "cublasSetStream", 1);
            R(cublasLib, cublasAPI, cublasSetMathMode, "cublasSetMathMode", 0);
            R(cublasLib, cublasAPI, cublasSgemm, "cublasSgemm", 1);
            R(cublasLib, cublasAPI, cublasGemmEx, "cublasGemmEx", 0);
        }
    }
    int r = finish(&cublasLib, message, size);
    pthread_mutex_unlock(&lock);
    return r;
}

const GlowCUDADriverAPI *glow_cuda_driver(void) { return &driverAPI; }
const GlowNVRTCAPI *glow_cuda_nvrtc(void) { return &nvrtcAPI; }
const GlowCUBLASAPI *glow_cuda_cublas(void) { return &cublasAPI; }
const char *glow_cuda_driver_path(void) { return driverLib.path; }
const char *glow_cuda_nvrtc_path(void) { return nvrtcLib.path; }
const char *glow_cuda_cublas_path(void) { return cublasLib.path; }
