import COpenCL

/// One OpenCL device as discovered: where it is and what it offers.
public struct OpenCLDeviceInfo: @unchecked Sendable {
    /// Position in `OpenCLDeviceInfo.all()`, the N of `--device opencl:N`.
    public let index: Int
    /// The platform's name, e.g. `Portable Computing Language`.
    public let platform: String
    /// The device's name.
    public let name: String
    /// `GPU`, `CPU`, `accelerator` or `other`.
    public let type: String
    /// Compute units.
    public let computeUnits: Int
    /// Global memory in bytes.
    public let globalMemory: UInt64
    /// Largest single allocation in bytes.
    public let maxAllocation: UInt64
    /// e.g. `OpenCL C 1.2 pocl`.
    public let openCLCVersion: String
    /// The driver's version string.
    public let driverVersion: String
    /// The device vendor, e.g. `NVIDIA Corporation`.
    public let vendor: String
    /// The largest work-group (local size product) a kernel may use.
    public let maxWorkGroupSize: Int
    /// `__local` memory per work-group in bytes.
    public let localMemory: Int
    let platformID: cl_platform_id
    let deviceID: cl_device_id

    /// What the kernel tuning table matches on.
    public var kernelDevice: KernelDevice {
        KernelDevice(type: type, vendor: vendor, name: name, computeUnits: computeUnits,
                     maxWorkGroupSize: maxWorkGroupSize, localMemory: localMemory)
    }

    /// True for GPUs and accelerators, the devices `--device auto` prefers.
    public var isAccelerator: Bool { type == "GPU" || type == "accelerator" }

    /// Every device of every platform. With no platform installed (the ICD loader answers
    /// `CL_PLATFORM_NOT_FOUND_KHR`), returns an empty list rather than failing.
    public static func all() throws -> [OpenCLDeviceInfo] {
        var n: cl_uint = 0
        let st = clGetPlatformIDs(0, nil, &n)
        if st == -1001 || n == 0 { return [] }
        try OpenCLError.check(st, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(n))
        try OpenCLError.check(clGetPlatformIDs(n, &platforms, nil), "clGetPlatformIDs")
        var result: [OpenCLDeviceInfo] = []
        for case let p? in platforms {
            var dn: cl_uint = 0
            let ds = clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &dn)
            if ds == CL_DEVICE_NOT_FOUND || dn == 0 { continue }
            try OpenCLError.check(ds, "clGetDeviceIDs")
            var devices = [cl_device_id?](repeating: nil, count: Int(dn))
            try OpenCLError.check(clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), dn, &devices, nil), "clGetDeviceIDs")
            let pname = try platformString(p, cl_platform_info(CL_PLATFORM_NAME))
            for case let d? in devices {
                let t: cl_device_type = try deviceValue(d, cl_device_info(CL_DEVICE_TYPE))
                let type = t & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
                    : t & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator"
                    : t & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? "CPU" : "other"
                let cu: cl_uint = try deviceValue(d, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS))
                let mem: cl_ulong = try deviceValue(d, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE))
                let alloc: cl_ulong = try deviceValue(d, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE))
                result.append(OpenCLDeviceInfo(
                    index: result.count, platform: pname,
                    name: try deviceString(d, cl_device_info(CL_DEVICE_NAME)), type: type,
                    computeUnits: Int(cu), globalMemory: mem, maxAllocation: alloc,
                    openCLCVersion: try deviceString(d, cl_device_info(CL_DEVICE_OPENCL_C_VERSION)),
                    driverVersion: try deviceString(d, cl_device_info(CL_DRIVER_VERSION)),
                    vendor: try deviceString(d, cl_device_info(CL_DEVICE_VENDOR)),
                    maxWorkGroupSize: Int(try deviceValue(d, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE)) as Int),
                    localMemory: Int(try deviceValue(d, cl_device_info(CL_DEVICE_LOCAL_MEM_SIZE)) as cl_ulong),
                    platformID: p, deviceID: d))
            }
        }
        return result
    }

    static func platformString(_ p: cl_platform_id, _ what: cl_platform_info) throws -> String {
        var size = 0
        try OpenCLError.check(clGetPlatformInfo(p, what, 0, nil, &size), "clGetPlatformInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetPlatformInfo(p, what, size, &bytes, nil), "clGetPlatformInfo")
        return trimmed(bytes)
    }

    static func deviceString(_ d: cl_device_id, _ what: cl_device_info) throws -> String {
        var size = 0
        try OpenCLError.check(clGetDeviceInfo(d, what, 0, nil, &size), "clGetDeviceInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetDeviceInfo(d, what, size, &bytes, nil), "clGetDeviceInfo")
        return trimmed(bytes)
    }

    static func deviceValue<T>(_ d: cl_device_id, _ what: cl_device_info) throws -> T {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        defer { p.deallocate() }
        try OpenCLError.check(clGetDeviceInfo(d, what, MemoryLayout<T>.size, p, nil), "clGetDeviceInfo")
        return p.pointee
    }

    private static func trimmed(_ bytes: [CChar]) -> String {
        let s = bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return s.trimmingCharacters(in: .whitespaces)
    }
}

import Foundation
