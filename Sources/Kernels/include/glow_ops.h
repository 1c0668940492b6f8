// What kernels.cl and the Swift code must agree on, defined once: operation codes and the
// defaults of kernels.cl's tunables. kernels.cl includes this header (its path from the
// project root, so any compiler finds it beside kernels.cl); at run time the backends put
// the embedded copy (Kernels.h, glow_ops_source) before kernels.cl. Swift reads the same
// macros through `import Kernels` (KernelBackend/KernelOps.swift).
#ifndef GLOW_OPS_H
#define GLOW_OPS_H

// binary_op's `op` (Swift: BinaryOp).
#define GLOW_BINARY_ADD 0
#define GLOW_BINARY_SUBTRACT 1
#define GLOW_BINARY_RELU_BACKWARD 2

// Tunables: kernels.cl takes NAME from the build's -D NAME=V, else GLOW_DEFAULT_NAME; the
// launches and the tuning table (KernelTuningTable.swift) use the same defaults.
#define GLOW_DEFAULT_GEMM_TV 4           // cpu: float16 vectors per row of gemm_packed's tile
#define GLOW_DEFAULT_GEMM_LOCAL 1        // cpu: work-group size of gemm_packed
#define GLOW_DEFAULT_WG_ELEMENTWISE 256  // work-group size of the elementwise kernels
#define GLOW_DEFAULT_MWG 64              // gpu: rows of C per work-group tile
#define GLOW_DEFAULT_NWG 64              // gpu: columns of C per work-group tile
#define GLOW_DEFAULT_KWG 16              // gpu: K slice staged in __local per step
#define GLOW_DEFAULT_MDIMC 16            // gpu: work-items along M per group
#define GLOW_DEFAULT_NDIMC 16            // gpu: work-items along N per group
#define GLOW_DEFAULT_VWM 4               // gpu: width of the __local vectors a work-item reads along M (1, 2, 4)
#define GLOW_DEFAULT_VWN 4               // gpu: the same along N
#define GLOW_DEFAULT_WG_REDUCE 256       // gpu: work-items per reduction group (power of two)
#define GLOW_DEFAULT_GROUPS_TARGET 64    // gpu: groups a launch should have, when the device is unknown
#define GLOW_DEFAULT_GROUPS_PER_CU 4     // gpu: GROUPS_TARGET is this many groups per compute unit

#endif
