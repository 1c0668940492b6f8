// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "glow-gpu",
    products: [
        .library(name: "GlowGPU", targets: ["GlowGPU"]),
        .executable(name: "glow-gpu", targets: ["glow-gpu"]),
        .executable(name: "glow-gpu-serve", targets: ["glow-gpu-serve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // HTTP server for `glow-gpu serve` (docs/serve.md says why FlyingFox and not Hummingbird).
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "COpenCL", pkgConfig: "OpenCL",
                       providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // CUDA driver API, NVRTC and cuBLAS declarations and their run-time loader: no CUDA
        // header or library at build time.
        .target(name: "CCUDA", linkerSettings: [.linkedLibrary("dl")]),
        // Open MPI, loaded with dlopen only under mpirun (the binary runs without it).
        .target(name: "CMPI", path: "Sources/CMPI", linkerSettings: [.linkedLibrary("dl")]),
        // kernels.cl compiled into the binary with C23 #embed.
        .target(name: "Kernels", path: "Sources/Kernels"),
        // Tensors, the backend protocol, the model, file formats, data and the training step:
        // device- and launcher-agnostic (no OpenCL, CUDA or MPI in its dependency graph).
        .target(name: "GlowCore", dependencies: ["CLibPNG", "CZlib"]),
        // Data-parallel training over Open MPI ranks: a `Communicator` for GlowCore's trainer.
        .target(name: "GlowMPI", dependencies: ["GlowCore", "CMPI"]),
        .target(name: "GlowCPU", dependencies: ["GlowCore", "COpenBLAS"]),
        .target(name: "GlowGPU", dependencies: ["GlowCore", "GlowCPU", "COpenCL", "CCUDA", "Kernels"]),
        // `glow-gpu serve`: the web page (files in Page/, embedded in the binary) and JSON API.
        .target(name: "GlowServe", dependencies: ["GlowGPU", "GlowCore", .product(name: "FlyingFox", package: "FlyingFox")],
                resources: [.embedInCode("Page")]),
        .executableTarget(name: "glow-gpu", dependencies: [
            "GlowGPU", "GlowMPI", "COpenBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The server behind `glow-gpu serve` (which runs it), a binary of its own: FlyingFox
        // links Foundation's networking library and with it libcurl, which glow-gpu and its
        // portable bundle do without.
        .executableTarget(name: "glow-gpu-serve", dependencies: [
            "GlowServe", "GlowGPU",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Library examples: sampling from a checkpoint, and training with `TrainingRun`.
        .executableTarget(name: "glow-sample-example", dependencies: ["GlowGPU"]),
        .executableTarget(name: "glow-train-example", dependencies: ["GlowGPU"]),
        // GlowCore alone (files, data): no OpenCL, CUDA, MPI or BLAS in its dependency graph.
        .testTarget(name: "GlowCoreTests", dependencies: ["GlowCore"]),
        .testTarget(name: "GlowTests", dependencies: ["GlowGPU", "GlowCPU", "GlowCore", "GlowMPI", "GlowCoreTests"]),
        .testTarget(name: "GlowServeTests", dependencies: ["GlowCoreTests", "GlowServe", "GlowGPU", "GlowCPU", "GlowCore"]),
        .testTarget(name: "GlowPublicAPITests", dependencies: ["GlowGPU"]),
    ],
    swiftLanguageModes: [.v5],
    cLanguageStandard: .c2x
)
