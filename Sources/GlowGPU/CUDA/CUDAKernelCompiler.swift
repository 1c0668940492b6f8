import CCUDA
import Foundation
import GlowCore
import Kernels

/// kernels.cl compiled for CUDA by NVRTC: cuda_compat.h followed by kernels.cl as one C++
/// translation unit. Produces a CUBIN for an architecture NVRTC knows, else PTX for the
/// newest virtual architecture not above the device's (the driver finishes it).
/// Compiled images are cached on disk (`cacheDirectory`), keyed by device, driver, NVRTC
/// version, source and options.
public enum CUDAKernelCompiler {
    /// What NVRTC produced.
    public struct Image: Sendable {
        /// CUBIN (ELF) or PTX text (NUL-terminated) bytes, as `cuModuleLoadDataEx` takes them.
        public let data: [UInt8]
        /// True for CUBIN, false for PTX.
        public let isCUBIN: Bool
        /// The options NVRTC was given.
        public let options: [String]
        /// NVRTC's log (warnings; ptxas's report with `verbose`).
        public let log: String
        /// True when read from the disk cache instead of compiled.
        public let fromCache: Bool
    }

    /// Registers and spills of one kernel, from ptxas's verbose report.
    public struct KernelResources: Sendable, Equatable {
        /// The kernel's name.
        public let name: String
        /// Registers per thread.
        public let registers: Int
        /// Bytes of spill stores and loads.
        public let spillStores: Int, spillLoads: Int
        /// Bytes of stack frame.
        public let stackFrame: Int
    }

    /// The text of cuda_compat.h.
    public static var compatHeader: String { String(cString: glow_cuda_compat_source_ptr()) }

    /// cuda_compat.h, then glow_ops.h and kernels.cl (`KernelSource`), with `#line` markers
    /// so messages name the right file.
    public static var source: String { "#line 1 \"cuda_compat.h\"\n\(compatHeader)\n" + KernelSource.text }

    /// The architectures this NVRTC can target, e.g. `[75, 80, 86, 89, 90, 100, 120]`.
    public static func supportedArchitectures() throws -> [Int] {
        let api = try CUDALibraries.nvrtc()
        var n: Int32 = 0
        try CUDAError.checkNVRTC(api.nvrtcGetNumSupportedArchs!(&n), "nvrtcGetNumSupportedArchs")
        var archs = [Int32](repeating: 0, count: Int(n))
        try CUDAError.checkNVRTC(api.nvrtcGetSupportedArchs!(&archs), "nvrtcGetSupportedArchs")
        return archs.map(Int.init).sorted()
    }

    /// `sm_XY` when NVRTC can produce a CUBIN for compute capability X.Y, else `compute_AB`
    /// for the newest architecture NVRTC knows that is not above X.Y.
    public static func target(major: Int, minor: Int) throws -> String {
        let cc = major * 10 + minor
        let archs = try supportedArchitectures()
        if archs.contains(cc) { return "sm_\(cc)" }
        guard let best = archs.last(where: { $0 <= cc }) else {
            throw CUDAError.unavailable("NVRTC \((try? CUDALibraries.nvrtcVersion()) ?? "?") supports \(archs.map { "sm_\($0)" }.joined(separator: ", ")), "
                + "nothing for compute capability \(major).\(minor)")
        }
        return "compute_\(best)"
    }

    /// NVRTC's options for `target` (`sm_90`, `compute_90`) and `tuning`; `verbose` adds
    /// ptxas's register and spill report to the log (CUBIN targets only).
    public static func options(target: String, tuning: KernelTuning, verbose: Bool = false) -> [String] {
        var o = ["--gpu-architecture=\(target)", "--std=c++17", "-default-device", "--fmad=true"] + tuning.defines
        if verbose && target.hasPrefix("sm_") { o.append("--ptxas-options=-v") }
        return o
    }

    /// Compiles kernels.cl (or `source`) for `target`; an NVRTC failure throws with the log.
    public static func compile(target: String, tuning: KernelTuning, verbose: Bool = false,
                               source: String = CUDAKernelCompiler.source) throws -> Image {
        let api = try CUDALibraries.nvrtc()
        let opts = options(target: target, tuning: tuning, verbose: verbose)
        var program: nvrtcProgram?
        try CUDAError.checkNVRTC(api.nvrtcCreateProgram!(&program, source, "kernels.cl", 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = api.nvrtcDestroyProgram!(&program) }
        let cOptions = opts.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let st = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            api.nvrtcCompileProgram!(program, Int32(opts.count), $0.baseAddress)
        }
        var logSize = 0
        _ = api.nvrtcGetProgramLogSize!(program, &logSize)
        var logBytes = [CChar](repeating: 0, count: logSize + 1)
        _ = api.nvrtcGetProgramLog!(program, &logBytes)
        let log = logBytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        try CUDAError.checkNVRTC(st, "nvrtcCompileProgram(kernels.cl, \(opts.joined(separator: " ")))", log: log)
        let cubin = target.hasPrefix("sm_")
        var size = 0
        try CUDAError.checkNVRTC(cubin ? api.nvrtcGetCUBINSize!(program, &size) : api.nvrtcGetPTXSize!(program, &size), "nvrtcGet\(cubin ? "CUBIN" : "PTX")Size")
        var data = [UInt8](repeating: 0, count: size)
        try data.withUnsafeMutableBufferPointer { p in
            let c = UnsafeMutableRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self)
            try CUDAError.checkNVRTC(cubin ? api.nvrtcGetCUBIN!(program, c) : api.nvrtcGetPTX!(program, c), "nvrtcGet\(cubin ? "CUBIN" : "PTX")")
        }
        return Image(data: data, isCUBIN: cubin, options: opts, log: log, fromCache: false)
    }

    /// The per-kernel report in a verbose compile's log.
    public static func resources(inLog log: String) -> [KernelResources] {
        var out: [KernelResources] = []
        var current: String?, stack = 0, stores = 0, loads = 0
        func numbers(_ line: Substring) -> [Int] {
            line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        }
        for line in log.split(separator: "\n") {
            if let r = line.range(of: "Compiling entry function '") {
                current = String(line[r.upperBound...].prefix(while: { $0 != "'" }))
            } else if line.contains("bytes stack frame") {
                let n = numbers(line)
                if n.count >= 3 { stack = n[0]; stores = n[1]; loads = n[2] }
            } else if let name = current, let r = line.range(of: "Used "), line.contains("registers") {
                let n = numbers(line[r.upperBound...])
                out.append(KernelResources(name: name, registers: n.first ?? 0, spillStores: stores, spillLoads: loads, stackFrame: stack))
                current = nil; stack = 0; stores = 0; loads = 0
            }
        }
        return out
    }

    /// `$GLOW_CUDA_CACHE`, else `$XDG_CACHE_HOME/glow-gpu/cuda`, else `~/.cache/glow-gpu/cuda`.
    public static var cacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["GLOW_CUDA_CACHE"], !d.isEmpty { return d }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/glow-gpu/cuda" }
        return (env["HOME"] ?? NSTemporaryDirectory()) + "/.cache/glow-gpu/cuda"
    }

    /// The image for `device`: from the cache when an identical compile is there, else
    /// compiled and stored (a cache that cannot be written is skipped, not an error).
    public static func image(for device: CUDADeviceInfo, tuning: KernelTuning) throws -> Image {
        let target = try target(major: device.major, minor: device.minor)
        let opts = options(target: target, tuning: tuning)
        let nvrtcVersion = (try? CUDALibraries.nvrtcVersion()) ?? "?"
        let key = [device.name, device.architecture, "driver \(CUDALibraries.driverVersionNumber())", "nvrtc \(nvrtcVersion)",
                   opts.joined(separator: " "), source].joined(separator: "\u{0}")
        let file = "\(cacheDirectory)/kernels-\(fnv1a(key))-\(target).\(target.hasPrefix("sm_") ? "cubin" : "ptx")"
        if let data = FileManager.default.contents(atPath: file), !data.isEmpty {
            return Image(data: [UInt8](data), isCUBIN: target.hasPrefix("sm_"), options: opts, log: "", fromCache: true)
        }
        let image = try compile(target: target, tuning: tuning)
        try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let temp = file + ".\(getpid()).tmp"
        if FileManager.default.createFile(atPath: temp, contents: Data(image.data)) {
            if rename(temp, file) != 0 { try? FileManager.default.removeItem(atPath: temp) }
        }
        return image
    }

    /// 64-bit FNV-1a of `s`'s UTF-8 bytes, as 16 hex digits.
    static func fnv1a(_ s: String) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
