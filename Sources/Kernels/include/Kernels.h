#ifndef GLOW_KERNELS_H
#define GLOW_KERNELS_H
#include <stddef.h>
#include "glow_ops.h"
/// The text of kernels.cl, NUL-terminated, embedded at build time.
extern const char glow_kernels_source[];
/// Its length in bytes, without the terminating NUL.
extern const size_t glow_kernels_source_length;
/// The source as a pointer, for Swift (which imports the array as a tuple).
static inline const char *glow_kernels_source_ptr(void) { return glow_kernels_source; }
/// The text of glow_ops.h (operation codes, tunable defaults), NUL-terminated: the backends
/// put it before kernels.cl, whose own #include of it is then skipped.
extern const char glow_ops_source[];
/// glow_ops.h as a pointer, for Swift.
static inline const char *glow_ops_source_ptr(void) { return glow_ops_source; }
/// The text of cuda_compat.h (OpenCL C → CUDA C++ for NVRTC), NUL-terminated.
extern const char glow_cuda_compat_source[];
/// Its length in bytes, without the terminating NUL.
extern const size_t glow_cuda_compat_source_length;
/// cuda_compat.h as a pointer, for Swift.
static inline const char *glow_cuda_compat_source_ptr(void) { return glow_cuda_compat_source; }
#endif
