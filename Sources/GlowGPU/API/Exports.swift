// `import GlowGPU` is all a user writes: the core (model, tensors, files) and the CPU
// backend come with it.
@_exported import GlowCore
@_exported import GlowCPU
