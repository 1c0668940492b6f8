#ifndef GLOW_KERNELS_H
#define GLOW_KERNELS_H
#include <stddef.h>
/// The text of kernels.cl, NUL-terminated, embedded at build time.
extern const char glow_kernels_source[];
/// Its length in bytes, without the terminating NUL.
extern const size_t glow_kernels_source_length;
/// The source as a pointer, for Swift (which imports the array as a tuple).
static inline const char *glow_kernels_source_ptr(void) { return glow_kernels_source; }
#endif
