#include "Kernels.h"
// The only OpenCL C in the project is ../../kernels.cl; #embed makes it part of the
// binary, so the program runs from any directory and editing kernels.cl rebuilds this.
const char glow_kernels_source[] = {
#embed "../../kernels.cl"
    , 0
};
const size_t glow_kernels_source_length = sizeof(glow_kernels_source) - 1;

// Operation codes and tunable defaults that kernels.cl includes; put before it at run time.
const char glow_ops_source[] = {
#embed "include/glow_ops.h"
    , 0
};

// The OpenCL C → CUDA C++ header the CUDA backend puts before kernels.cl for NVRTC.
const char glow_cuda_compat_source[] = {
#embed "cuda_compat.h"
    , 0
};
const size_t glow_cuda_compat_source_length = sizeof(glow_cuda_compat_source) - 1;
