// Finds and opens the CUDA libraries at run time (docs/reliability.md, "Where CUDA is
// looked for"). Folders, in order:
//   1. every folder of GLOW_CUDA_PATH (colon-separated; a folder, or a root whose lib64/,
//      lib/ and nvidia/*/lib are tried too),
//   2. the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig's cache): a plain dlopen
//      of the soname,
//   3. the driver's folders: the one libcuda.so.1 was loaded from, /usr/local/nvidia/lib64,
//      /usr/local/nvidia/lib, /usr/lib/wsl/lib,
//   4. /usr/local/cuda/lib64, /usr/local/cuda-*/lib64 (newest version first) and their
//      targets/*/lib,
//   5. Python environments: VIRTUAL_ENV and CONDA_PREFIX (conda's own lib/ too), then the
//      prefix of every python3 on PATH (…/bin/python3 → …/lib*/python3*/{site,dist}-packages),
//      each site's nvidia/*/lib (PyPI's CUDA wheels: cu13/lib, cuda_nvrtc/lib, cublas/lib),
//   6. the project's .cuda-tools (working directory, or the executable's folder and four
//      above it), then ~/.local, pyenv, /usr/local/lib/python3*, /usr/lib/python3 and
//      /opt/conda.
// NVRTC and cuBLAS of CUDA 13, 12 and 11 are accepted. A candidate whose CUDA major is newer
// than the driver's (cuDriverGetVersion) is skipped; of the rest, the newest major wins, in
// the folder order above, except that a library in GLOW_CUDA_PATH is taken before any other.
// What was skipped and why is kept in a report (glow_cuda_load_report).
#define _GNU_SOURCE
#include "CCUDA.h"
#include <dlfcn.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIRS 256
#define MAX_CANDIDATES 256
#define LOADER_PATH ""   // the folder entry that stands for the dynamic loader's own search

// --- Text helpers ------------------------------------------------------------------------

// Appends printf-style text to `buf` (size `size`), truncating quietly.
static void appendf(char *buf, size_t size, const char *fmt, ...) {
    if (!buf || size == 0) return;
    size_t len = strnlen(buf, size);
    if (len >= size - 1) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

// --- The folder list -----------------------------------------------------------------------

typedef struct {
    char *items[MAX_DIRS];
    unsigned char fromCUDAPath[MAX_DIRS];   // 1: a GLOW_CUDA_PATH folder (taken before the others)
    int count;
} DirList;

// Adds `d` once; a folder that does not exist is left out (the loader-path marker is kept).
static void add_dir(DirList *l, const char *d, int fromCUDAPath) {
    if (l->count >= MAX_DIRS || d == NULL) return;
    if (d[0] != 0 && !is_dir(d)) return;
    for (int i = 0; i < l->count; ++i)
        if (strcmp(l->items[i], d) == 0) return;
    l->fromCUDAPath[l->count] = (unsigned char)fromCUDAPath;
    l->items[l->count++] = strdup(d);
}

static int compare_versions_descending(const void *a, const void *b) {
    return strverscmp(*(const char *const *)b, *(const char *const *)a);
}

// Adds the folders matching `pattern`, newest version first (cuda-13.0 before cuda-12.4
// before cuda-9.2).
static void add_glob(DirList *l, const char *pattern) {
    glob_t g;
    if (glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0) {
        qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), compare_versions_descending);
        for (size_t i = 0; i < g.gl_pathc; ++i) add_dir(l, g.gl_pathv[i], 0);
    }
    globfree(&g);
}

// A fixed system folder (or pattern) under the search's root ("" on a real machine).
static void add_system(DirList *l, const GlowCUDASearch *s, const char *path, int pattern) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s%s", s->systemRoot ? s->systemRoot : "", path);
    if (pattern) add_glob(l, p); else add_dir(l, p, 0);
}

// `root`/nvidia/*/lib: where PyPI's CUDA wheels put their libraries.
static void add_pip_tree(DirList *l, const char *root) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/nvidia/*/lib", root);
    add_glob(l, p);
}

// Every site-packages (or Debian dist-packages) folder of the Python installation at
// `prefix`, each followed by its nvidia/*/lib folders; a conda prefix's own lib/ too.
static void add_python_prefix(DirList *l, const char *prefix) {
    if (!prefix || !prefix[0]) return;
    if (strcmp(prefix, "/") == 0) prefix = "";   // the root: "/lib…", not "//lib…"
    const char *patterns[] = {"%s/lib*/python3*/site-packages", "%s/lib*/python3*/dist-packages", "%s/lib/python3/dist-packages"};
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/conda-meta", prefix);
    if (is_dir(p)) { snprintf(p, sizeof p, "%s/lib", prefix); add_dir(l, p, 0); }
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; ++i) {
        snprintf(p, sizeof p, patterns[i], prefix);
        glob_t g;
        if (glob(p, GLOB_ONLYDIR, NULL, &g) == 0) {
            qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), compare_versions_descending);
            for (size_t j = 0; j < g.gl_pathc; ++j) add_pip_tree(l, g.gl_pathv[j]);
        }
        globfree(&g);
    }
}

// The prefix of every python3 on `path` (…/bin/python3 → …), in PATH order: an unactivated
// venv, a uv environment or a container's Python found through PATH alone.
static void add_pythons_on_path(DirList *l, const char *path) {
    if (!path || !path[0]) return;
    char *copy = strdup(path), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (d[0] != '/') continue;   // a relative PATH entry depends on the working directory
        char exe[PATH_MAX], prefix[PATH_MAX];
        snprintf(exe, sizeof exe, "%s/python3", d);
        if (access(exe, X_OK) != 0) continue;
        snprintf(prefix, sizeof prefix, "%s", d);
        size_t n = strlen(prefix);
        while (n > 1 && prefix[n - 1] == '/') prefix[--n] = 0;
        char *slash = strrchr(prefix, '/');
        if (!slash) continue;
        *slash = 0;   // "/bin" gives "", whose lib*/python3* are /lib*/python3*
        add_python_prefix(l, prefix[0] ? prefix : "/");
    }
    free(copy);
}

// The project-local pip folder: the working directory, then the executable's folder and up
// to four folders above it (.build/debug/glow-gpu → the package root).
static void add_cuda_tools(DirList *l, const GlowCUDASearch *s) {
    char p[PATH_MAX];
    if (s->workingDirectory && s->workingDirectory[0]) {
        snprintf(p, sizeof p, "%s/.cuda-tools", s->workingDirectory);
        add_pip_tree(l, p);
    }
    if (s->executable && s->executable[0]) {
        char exe[PATH_MAX];
        snprintf(exe, sizeof exe, "%s", s->executable);
        for (int up = 0; up < 5; ++up) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe) break;
            *slash = 0;
            snprintf(p, sizeof p, "%s/.cuda-tools", exe);
            add_pip_tree(l, p);
        }
    }
}

static void build_dirs(DirList *l, int library, const GlowCUDASearch *s) {
    char p[PATH_MAX];
    if (s->cudaPath && s->cudaPath[0]) {
        char *copy = strdup(s->cudaPath), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            add_dir(l, d, 1);
            snprintf(p, sizeof p, "%s/lib64", d); add_dir(l, p, 1);
            snprintf(p, sizeof p, "%s/lib", d); add_dir(l, p, 1);
            snprintf(p, sizeof p, "%s/nvidia/*/lib", d);
            int before = l->count;
            add_glob(l, p);
            for (int i = before; i < l->count; ++i) l->fromCUDAPath[i] = 1;
        }
        free(copy);
    }
    if (s->loaderPath) add_dir(l, LOADER_PATH, 0);
    // The driver's folders (for the driver itself, where containers and distributions put it).
    if (s->driverDirectory && s->driverDirectory[0]) add_dir(l, s->driverDirectory, 0);
    add_system(l, s, "/usr/local/nvidia/lib64", 0);
    add_system(l, s, "/usr/local/nvidia/lib", 0);
    add_system(l, s, "/usr/lib/wsl/lib", 0);
    if (library == GLOW_CUDA_LIBRARY_DRIVER) {
        add_system(l, s, "/usr/lib/x86_64-linux-gnu", 0);
        add_system(l, s, "/usr/lib64", 0);
        add_system(l, s, "/run/nvidia/driver/usr/lib/x86_64-linux-gnu", 0);
        return;   // never a toolkit's stubs/ or a Python wheel: libcuda.so.1 comes with the driver
    }
    add_system(l, s, "/usr/local/cuda/lib64", 0);
    add_system(l, s, "/usr/local/cuda-*/lib64", 1);
    add_system(l, s, "/usr/local/cuda/targets/*/lib", 1);
    add_system(l, s, "/usr/local/cuda-*/targets/*/lib", 1);
    add_python_prefix(l, s->virtualEnv);
    add_python_prefix(l, s->condaPrefix);
    add_pythons_on_path(l, s->path);
    add_cuda_tools(l, s);
    if (s->home && s->home[0]) {
        snprintf(p, sizeof p, "%s/.local", s->home); add_python_prefix(l, p);
        snprintf(p, sizeof p, "%s/.pyenv/versions/*", s->home);
        glob_t g;
        if (glob(p, GLOB_ONLYDIR, NULL, &g) == 0) {
            qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), compare_versions_descending);
            for (size_t i = 0; i < g.gl_pathc; ++i) add_python_prefix(l, g.gl_pathv[i]);
        }
        globfree(&g);
    }
    const char *systemPrefixes[] = {"/usr/local", "/usr", "/opt/conda"};
    for (size_t i = 0; i < sizeof systemPrefixes / sizeof *systemPrefixes; ++i) {
        snprintf(p, sizeof p, "%s%s", s->systemRoot ? s->systemRoot : "", systemPrefixes[i]);
        add_python_prefix(l, p);
    }
}

static void free_dirs(DirList *l) {
    for (int i = 0; i < l->count; ++i) free(l->items[i]);
    l->count = 0;
}

// --- The libraries --------------------------------------------------------------------------

typedef struct {
    const char *label;          // for messages
    const char *names[4];       // newest CUDA major first; an unversioned name last
    int majors[4];              // 0: unknown (read from the file the name resolves to)
    const char *companions[4];  // opened first from the same folder with RTLD_GLOBAL (may be NULL)
    int count;
    const char *key;            // a symbol a usable version has
    const char *keyWhy;         // why a library without it is unusable
    const char *hint;           // how to fix "not found"
} LibrarySpec;

static const LibrarySpec specs[3] = {
    {"libcuda.so.1", {"libcuda.so.1"}, {0}, {NULL}, 1, "cuDriverGetVersion", "not a CUDA driver",
     "install the NVIDIA driver (nvidia-smi should work), or point GLOW_CUDA_PATH at the folder with libcuda.so.1"},
    {"NVRTC", {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}, {13, 12, 11, 0},
     {"libnvrtc-builtins.so.13*", "libnvrtc-builtins.so.12*", "libnvrtc-builtins.so.11.2*", "libnvrtc-builtins.so*"}, 4,
     "nvrtcGetSupportedArchs", "older than CUDA 11.2",
     "install one no newer than the driver (pip install nvidia-cuda-nvrtc-cu12, or a CUDA toolkit), "
     "or point GLOW_CUDA_PATH at its folder"},
    {"cuBLAS", {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}, {13, 12, 11, 0},
     {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}, 4,
     "cublasGemmEx", "older than CUDA 8",
     "install one no newer than the driver (pip install nvidia-cublas-cu12, or a CUDA toolkit), "
     "or point GLOW_CUDA_PATH at its folder"},
};

typedef struct {
    char path[PATH_MAX];      // folder/name, or the bare name for the loader's path
    char real[PATH_MAX];      // the file it resolves to ("" for the loader's path)
    int major;                // CUDA major of the library, 0 unknown
    int fromCUDAPath;
    int viaLoader;
    int order;                // folder index
    int nameIndex;
} Candidate;

// The CUDA major in a file name: libnvrtc.so.12.4.127 → 12, libcublas.so.11 → 11; 0 if none.
static int major_of(const char *file) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *so = strstr(base, ".so.");
    return so ? atoi(so + 4) : 0;
}

static int compare_candidates(const void *pa, const void *pb) {
    const Candidate *a = pa, *b = pb;
    if (a->fromCUDAPath != b->fromCUDAPath) return b->fromCUDAPath - a->fromCUDAPath;
    if (!a->fromCUDAPath && a->major != b->major) return b->major - a->major;
    if (a->order != b->order) return a->order - b->order;
    return a->nameIndex - b->nameIndex;
}

// The CUDA major of a loaded library whose file name does not say it, from its own version call.
static int major_from_library(int library, void *h) {
    if (library == GLOW_CUDA_LIBRARY_NVRTC) {
        int (*f)(int *, int *) = (int (*)(int *, int *))dlsym(h, "nvrtcVersion");
        int major = 0, minor = 0;
        if (f && f(&major, &minor) == 0) return major;
    } else if (library == GLOW_CUDA_LIBRARY_CUBLAS) {
        int (*f)(int, int *) = (int (*)(int, int *))dlsym(h, "cublasGetProperty");
        int major = 0;
        if (f && f(0, &major) == 0) return major;
    }
    return 0;
}

// Whether a dlopen error says only that the file is not there (the loader's path searched).
static int is_absent(const char *e) {
    return e == NULL || strstr(e, "cannot open shared object file") != NULL || strstr(e, "No such file") != NULL;
}

// Opens `c`: companions first from its folder (unless probing), then the library itself.
static void *open_candidate(int library, const Candidate *c, int probe, int flags) {
    if (!probe && !c->viaLoader && specs[library].companions[c->nameIndex]) {
        char dir[PATH_MAX], cp[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", c->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        snprintf(cp, sizeof cp, "%s/%s", dir, specs[library].companions[c->nameIndex]);
        glob_t g;
        if (glob(cp, 0, NULL, &g) == 0 && g.gl_pathc > 0) dlopen(g.gl_pathv[0], RTLD_NOW | RTLD_GLOBAL);
        globfree(&g);
    }
    return dlopen(c->path, flags);
}

// The file a library opened through the loader's path came from.
static void loaded_file(void *h, const Candidate *c, char *out, size_t size) {
    char origin[PATH_MAX] = "";
    if (c->viaLoader && dlinfo(h, RTLD_DI_ORIGIN, origin) == 0 && origin[0]) snprintf(out, size, "%s/%s", origin, c->path);
    else snprintf(out, size, "%s", c->path);
}

static void driver_text(int driverVersion, char *out, size_t size) {
    snprintf(out, size, "CUDA %d.%d", driverVersion / 1000, driverVersion % 1000 / 10);
}

// The search for one library: see the top of this file. `handle` receives the open library
// (NULL when probing: the library is closed again). Returns a GLOW_CUDA_* status.
static int search(int library, const GlowCUDASearch *s, int driverVersion, int probe, void **handle,
                  char *path, size_t pathSize, char *message, size_t messageSize, char *report, size_t reportSize) {
    const LibrarySpec *spec = &specs[library];
    const char *tag = library == GLOW_CUDA_LIBRARY_DRIVER ? "driver" : library == GLOW_CUDA_LIBRARY_NVRTC ? "nvrtc" : "cublas";
    const int driverMajor = driverVersion / 1000;
    char driver[32];
    driver_text(driverVersion, driver, sizeof driver);
    if (handle) *handle = NULL;
    if (path && pathSize) path[0] = 0;
    if (message && messageSize) message[0] = 0;

    DirList dirs = {{0}, {0}, 0};
    build_dirs(&dirs, library, s);
    static Candidate candidates[MAX_CANDIDATES];   // under the caller's lock
    int n = 0;
    for (int d = 0; d < dirs.count; ++d) {
        for (int k = 0; k < spec->count && n < MAX_CANDIDATES; ++k) {
            Candidate *c = &candidates[n];
            memset(c, 0, sizeof *c);
            c->order = d; c->nameIndex = k; c->fromCUDAPath = dirs.fromCUDAPath[d];
            if (dirs.items[d][0] == 0) {
                c->viaLoader = 1;
                snprintf(c->path, sizeof c->path, "%s", spec->names[k]);
                c->major = spec->majors[k];
            } else {
                snprintf(c->path, sizeof c->path, "%s/%s", dirs.items[d], spec->names[k]);
                if (access(c->path, F_OK) != 0 || !realpath(c->path, c->real)) continue;
                // The driver's file name carries the driver's own version (libcuda.so.550.54.15), not CUDA's.
                c->major = library == GLOW_CUDA_LIBRARY_DRIVER ? 0 : spec->majors[k] ? spec->majors[k] : major_of(c->real);
                int seen = 0;   // the same file through another name or folder
                for (int i = 0; i < n && !seen; ++i) seen = !candidates[i].viaLoader && strcmp(candidates[i].real, c->real) == 0;
                if (seen) continue;
            }
            ++n;
        }
    }
    qsort(candidates, n, sizeof *candidates, compare_candidates);

    int tooNew = 0, failed = 0, status = GLOW_CUDA_NOT_FOUND;
    char firstFailure[512] = "", tooNewList[768] = "";
    for (int pass = 0; pass < 2 && status != GLOW_CUDA_FOUND; ++pass) {
        // Pass 0 tries what the driver supports; pass 1 only looks, through the loader's
        // path, for the too-new libraries that could explain finding nothing.
        if (pass == 1 && (tooNew > 0 || failed > 0 || driverMajor == 0)) break;
        for (int i = 0; i < n && status != GLOW_CUDA_FOUND; ++i) {
            Candidate *c = &candidates[i];
            int newer = driverMajor > 0 && c->major > driverMajor;
            if (pass == 1 && !(newer && c->viaLoader)) continue;
            if (pass == 0 && newer) {
                if (c->viaLoader) continue;   // pass 1 looks for it only if nothing else loads
                ++tooNew;
                appendf(report, reportSize, "%s: skipped %s: CUDA %d, newer than the driver (%s)\n", tag, c->path, c->major, driver);
                appendf(tooNewList, sizeof tooNewList, "%s%s (CUDA %d)", tooNewList[0] ? ", " : "", c->path, c->major);
                continue;
            }
            dlerror();
            void *h = open_candidate(library, c, probe || pass == 1, pass == 1 ? RTLD_LAZY | RTLD_LOCAL : RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                const char *e = dlerror();
                if (c->viaLoader && is_absent(e)) continue;
                ++failed;
                appendf(report, reportSize, "%s: failed %s: %s\n", tag, c->path, e ? e : "dlopen failed");
                if (!firstFailure[0]) snprintf(firstFailure, sizeof firstFailure, "%s: %s", c->path, e ? e : "dlopen failed");
                continue;
            }
            char file[PATH_MAX];
            loaded_file(h, c, file, sizeof file);
            if (pass == 1) {
                ++tooNew;
                appendf(report, reportSize, "%s: skipped %s: CUDA %d, newer than the driver (%s)\n", tag, file, c->major, driver);
                appendf(tooNewList, sizeof tooNewList, "%s%s (CUDA %d)", tooNewList[0] ? ", " : "", file, c->major);
                dlclose(h);
                continue;
            }
            if (!dlsym(h, spec->key)) {
                ++failed;
                appendf(report, reportSize, "%s: failed %s: no symbol %s (%s)\n", tag, file, spec->key, spec->keyWhy);
                if (!firstFailure[0]) snprintf(firstFailure, sizeof firstFailure, "%s has no %s (%s)", file, spec->key, spec->keyWhy);
                dlclose(h);
                continue;
            }
            int major = c->major ? c->major : major_from_library(library, h);
            if (driverMajor > 0 && major > driverMajor) {
                ++tooNew;
                appendf(report, reportSize, "%s: skipped %s: CUDA %d, newer than the driver (%s)\n", tag, file, major, driver);
                appendf(tooNewList, sizeof tooNewList, "%s%s (CUDA %d)", tooNewList[0] ? ", " : "", file, major);
                dlclose(h);
                continue;
            }
            if (path && pathSize) snprintf(path, pathSize, "%s", file);
            if (major) appendf(report, reportSize, "%s: loaded %s (CUDA %d)\n", tag, file, major);
            else appendf(report, reportSize, "%s: loaded %s\n", tag, file);
            if (probe) dlclose(h); else if (handle) *handle = h;
            status = GLOW_CUDA_FOUND;
        }
    }

    if (status != GLOW_CUDA_FOUND && message && messageSize) {
        if (tooNew > 0) {
            status = GLOW_CUDA_NEWER_THAN_DRIVER;
            snprintf(message, messageSize, "%s newer than the driver: the driver supports %s and every %s found is newer: %s; %s",
                     spec->label, driver, spec->label, tooNewList, spec->hint);
        } else if (failed > 0) {
            status = GLOW_CUDA_UNUSABLE;
            snprintf(message, messageSize, "%s unusable: %s; %s", spec->label, firstFailure, spec->hint);
        } else {
            snprintf(message, messageSize, "%s not found (searched GLOW_CUDA_PATH%s%s%s", spec->label,
                     s->cudaPath && s->cudaPath[0] ? "=" : " (unset)", s->cudaPath ? s->cudaPath : "",
                     s->loaderPath ? ", the loader's path" : "");
            int listed = 0;
            for (int d = 0; d < dirs.count; ++d) {
                if (dirs.items[d][0] == 0 || dirs.fromCUDAPath[d]) continue;
                if (listed < 12) appendf(message, messageSize, ", %s", dirs.items[d]);
                ++listed;
            }
            if (listed > 12) appendf(message, messageSize, " and %d more folders", listed - 12);
            appendf(message, messageSize, " for %s", spec->names[0]);
            for (int k = 1; k < spec->count; ++k) appendf(message, messageSize, ", %s", spec->names[k]);
            appendf(message, messageSize, "); %s", spec->hint);
            appendf(report, reportSize, "%s: not found in %d folders\n", tag, dirs.count);
        }
    } else if (status != GLOW_CUDA_FOUND) {
        status = tooNew > 0 ? GLOW_CUDA_NEWER_THAN_DRIVER : failed > 0 ? GLOW_CUDA_UNUSABLE : GLOW_CUDA_NOT_FOUND;
    }
    free_dirs(&dirs);
    return status;
}

// --- The search's inputs ------------------------------------------------------------------

static char cwdBuffer[PATH_MAX], exeBuffer[PATH_MAX], driverDirBuffer[PATH_MAX];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    void *handle;
    char path[PATH_MAX];
    int status;          // GLOW_CUDA_FOUND, another GLOW_CUDA_* status, or -1 not tried yet
    char message[4096];
} Library;

static Library driverLib = {.status = -1}, nvrtcLib = {.status = -1}, cublasLib = {.status = -1};
static char loadReport[8192];
static GlowCUDADriverAPI driverAPI;
static GlowNVRTCAPI nvrtcAPI;
static GlowCUBLASAPI cublasAPI;

// Fills `s` from this process: its environment, working directory and executable, and the
// folder of the driver when it is loaded. Strings point into the environment or static storage.
static void environment_search(GlowCUDASearch *s) {
    memset(s, 0, sizeof *s);
    s->cudaPath = getenv("GLOW_CUDA_PATH");
    s->path = getenv("PATH");
    s->virtualEnv = getenv("VIRTUAL_ENV");
    s->condaPrefix = getenv("CONDA_PREFIX");
    s->home = getenv("HOME");
    s->workingDirectory = getcwd(cwdBuffer, sizeof cwdBuffer) ? cwdBuffer : NULL;
    ssize_t n = readlink("/proc/self/exe", exeBuffer, sizeof exeBuffer - 1);
    exeBuffer[n > 0 ? n : 0] = 0;
    s->executable = exeBuffer;
    driverDirBuffer[0] = 0;
    if (driverLib.status == GLOW_CUDA_FOUND) {
        snprintf(driverDirBuffer, sizeof driverDirBuffer, "%s", driverLib.path);
        char *slash = strrchr(driverDirBuffer, '/');
        if (slash) *slash = 0; else driverDirBuffer[0] = 0;
    }
    s->driverDirectory = driverDirBuffer;
    s->systemRoot = "";
    s->loaderPath = 1;
}

void glow_cuda_search_from_environment(GlowCUDASearch *s) {
    pthread_mutex_lock(&lock);
    environment_search(s);
    pthread_mutex_unlock(&lock);
}

int glow_cuda_search_folders(int library, const GlowCUDASearch *s, char *out, size_t size) {
    if (library < 0 || library > 2 || !s) return -1;
    DirList dirs = {{0}, {0}, 0};
    build_dirs(&dirs, library, s);
    if (out && size) out[0] = 0;
    for (int i = 0; i < dirs.count; ++i)
        appendf(out, size, "%s\n", dirs.items[i][0] ? dirs.items[i] : "(the dynamic loader's path)");
    int count = dirs.count;
    free_dirs(&dirs);
    return count;
}

int glow_cuda_find_library(int library, const GlowCUDASearch *s, int driverVersion, char *path, size_t pathSize,
                           char *message, size_t messageSize, char *report, size_t reportSize) {
    if (library < 0 || library > 2 || !s) return -1;
    if (report && reportSize) report[0] = 0;
    pthread_mutex_lock(&lock);
    int r = search(library, s, driverVersion, 1, NULL, path, pathSize, message, messageSize, report, reportSize);
    pthread_mutex_unlock(&lock);
    return r;
}

// --- Loading -----------------------------------------------------------------------------------

// Resolves `name` (trying `name` + "_v2" first when `v2`); NULL when the library lacks it.
static void *resolve_optional(Library *lib, const char *name, int v2) {
    if (lib->status != GLOW_CUDA_FOUND) return NULL;
    void *f = NULL;
    if (v2) {
        char n[128];
        snprintf(n, sizeof n, "%s_v2", name);
        f = dlsym(lib->handle, n);
    }
    return f ? f : dlsym(lib->handle, name);
}

// Resolves a required entry point, or marks the library unusable naming the missing symbol.
static void *resolve(Library *lib, const char *name, int v2) {
    if (lib->status != GLOW_CUDA_FOUND) return NULL;
    void *f = resolve_optional(lib, name, v2);
    if (!f) {
        snprintf(lib->message, sizeof lib->message, "%s unusable: %s has no symbol %s%s", lib == &driverLib ? "no NVIDIA driver: libcuda.so.1"
                 : lib == &nvrtcLib ? "NVRTC" : "cuBLAS", lib->path, name, v2 ? "_v2" : "");
        lib->status = GLOW_CUDA_UNUSABLE;
    }
    return f;
}

static int finish(Library *lib, char *message, size_t size) {
    if (lib->status != GLOW_CUDA_FOUND && message && size) snprintf(message, size, "%s", lib->message);
    return lib->status;
}

#define R(lib, table, field, name, v2) table.field = (__typeof__(table.field))resolve(&lib, name, v2)
// An optional entry point: NULL when the library lacks it, and the library stays usable.
#define O(lib, table, field, name, v2) table.field = (__typeof__(table.field))resolve_optional(&lib, name, v2)

static void open_library(Library *lib, int library, int driverVersion) {
    GlowCUDASearch s;
    environment_search(&s);
    lib->status = search(library, &s, driverVersion, 0, &lib->handle, lib->path, sizeof lib->path,
                         lib->message, sizeof lib->message, loadReport, sizeof loadReport);
    if (lib->status != GLOW_CUDA_FOUND && library == GLOW_CUDA_LIBRARY_DRIVER) {
        char m[sizeof lib->message];
        snprintf(m, sizeof m, "no NVIDIA driver: %s", lib->message);
        snprintf(lib->message, sizeof lib->message, "%s", m);
    }
}

static void load_driver_locked(void) {
    if (driverLib.status != -1) return;
    // Only libcuda.so.1: the unversioned libcuda.so of a toolkit is usually its stub, which
    // fails every call with CUDA_ERROR_STUB_LIBRARY.
    open_library(&driverLib, GLOW_CUDA_LIBRARY_DRIVER, 0);
    if (driverLib.status != GLOW_CUDA_FOUND) return;
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
    O(driverLib, driverAPI, cuStreamBeginCapture, "cuStreamBeginCapture", 1);
    O(driverLib, driverAPI, cuStreamEndCapture, "cuStreamEndCapture", 0);
    O(driverLib, driverAPI, cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", 0);
    O(driverLib, driverAPI, cuGraphLaunch, "cuGraphLaunch", 0);
    O(driverLib, driverAPI, cuGraphExecDestroy, "cuGraphExecDestroy", 0);
    O(driverLib, driverAPI, cuGraphDestroy, "cuGraphDestroy", 0);
}

// The driver's CUDA version for choosing NVRTC and cuBLAS (0 without a driver: then any
// major is taken, newest first). cuDriverGetVersion needs no cuInit.
static int driver_version_locked(void) {
    load_driver_locked();
    int v = 0;
    if (driverLib.status == GLOW_CUDA_FOUND && driverAPI.cuDriverGetVersion && driverAPI.cuDriverGetVersion(&v) != 0) v = 0;
    return v;
}

int glow_cuda_load_driver(char *message, size_t size) {
    pthread_mutex_lock(&lock);
    load_driver_locked();
    int r = finish(&driverLib, message, size);
    pthread_mutex_unlock(&lock);
    return r;
}

int glow_cuda_load_nvrtc(char *message, size_t size) {
    pthread_mutex_lock(&lock);
    if (nvrtcLib.status == -1) {
        open_library(&nvrtcLib, GLOW_CUDA_LIBRARY_NVRTC, driver_version_locked());
        if (nvrtcLib.status == GLOW_CUDA_FOUND) {
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
    if (cublasLib.status == -1) {
        open_library(&cublasLib, GLOW_CUDA_LIBRARY_CUBLAS, driver_version_locked());
        if (cublasLib.status == GLOW_CUDA_FOUND) {
            R(cublasLib, cublasAPI, cublasCreate, "cublasCreate", 1);
            R(cublasLib, cublasAPI, cublasDestroy, "cublasDestroy", 1);
            R(cublasLib, cublasAPI, cublasGetProperty, "cublasGetProperty", 0);
            R(cublasLib, cublasAPI, cublasSetStream, "cublasSetStream", 1);
            R(cublasLib, cublasAPI, cublasSetMathMode, "cublasSetMathMode", 0);
            R(cublasLib, cublasAPI, cublasSgemm, "cublasSgemm", 1);
            R(cublasLib, cublasAPI, cublasGemmEx, "cublasGemmEx", 0);
            O(cublasLib, cublasAPI, cublasSetWorkspace, "cublasSetWorkspace", 1);
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
const char *glow_cuda_load_report(void) { return loadReport; }
