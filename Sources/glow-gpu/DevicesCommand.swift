import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu devices`: the CPU backend, every CUDA device (or why CUDA is unavailable) and
/// every OpenCL device.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices",
        abstract: "List the CPU backend, the CUDA devices and every OpenCL platform and device.")

    @Flag(help: "Also build kernels.cl on every CUDA and OpenCL device and report the build time.")
    var check = false
    @OptionGroup var threadsOption: ThreadsOption

    func run() throws {
        threadsOption.apply()
        let cpu = CPUBackend()
        print("cpu        CPU backend: \(cpu.blasConfig)")
        print("           BLAS core \(cpu.blasCore), \(cpu.threads) threads (\(CPUThreads.requested != nil ? "--threads" : "default")); "
            + "\(CPUThreads.machineProcessors) processors, \(CPUThreads.affinityCount().map(String.init) ?? "?") in the affinity mask, "
            + "cgroup quota \(CPUThreads.cgroupQuota().map { "\($0) cores" } ?? "none")")
        listCUDA()
        let devices: [OpenCLDeviceInfo]
        do { devices = try OpenCLDeviceInfo.all() } catch {
            print("OpenCL: \(error)")
            return
        }
        if devices.isEmpty {
            print("OpenCL: no platform found (the ICD loader reports none); only --device cpu is available")
            return
        }
        for d in devices {
            print("opencl:\(d.index)   \(d.name)")
            print("           platform \(d.platform), type \(d.type), \(d.computeUnits) compute units, "
                + "\(d.globalMemory >> 20) MiB memory (max allocation \(d.maxAllocation >> 20) MiB)")
            print("           \(d.openCLCVersion), driver \(d.driverVersion)")
            print("           vendor \(d.vendor), max work-group \(d.maxWorkGroupSize), \(d.localMemory >> 10) KiB local memory")
            print("           training steps: " + (OpenCLDeviceInfo.commandBuffersOffered(device: d.index)
                ? "recorded once into a command buffer (cl_khr_command_buffer) and replayed; GLOW_CL_COMMAND_BUFFERS=0 turns it off"
                : "enqueued kernel by kernel (no cl_khr_command_buffer)"))
            do {
                let t = try KernelTuningTable.tuning(for: d.kernelDevice, environment: ProcessInfo.processInfo.environment)
                print("           kernels: \(t.variant) variant, " + t.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: " "))
            } catch {
                print("           kernels: \(error)")
            }
            if check {
                do {
                    let b = try OpenCLBackend(device: d)
                    print(String(format: "           kernels.cl built in %.3f s (%@)", b.buildSeconds,
                                 b.buildSeconds < 0.3 ? "from the driver's cache" : "compiled"))
                } catch {
                    print("           kernels.cl failed to build: \(error)")
                }
            }
        }
    }

    /// What the CUDA loader loaded, skipped (e.g. a library newer than the driver) or failed
    /// on, one indented line each.
    func printLoaderReport() {
        for line in CUDALibraries.report.split(separator: "\n") { print("           loader \(line)") }
    }

    /// The CUDA devices with the driver's, NVRTC's and cuBLAS's versions, or one line saying
    /// why CUDA cannot be used.
    func listCUDA() {
        let devices: [CUDADeviceInfo]
        do { devices = try CUDADeviceInfo.usable() } catch {
            // The reason, then what was found of the compiler and BLAS (e.g. NVRTC without a driver).
            let reason = (error as? CUDAError)?.source == .unavailable ? (error as! CUDAError).call : "\(error)"
            let nvrtc = (try? CUDALibraries.nvrtcVersion()).map { "NVRTC \($0) (\(CUDALibraries.paths.nvrtc))" } ?? "no NVRTC"
            let cublas = (try? CUDALibraries.cublasVersion()).map { "cuBLAS \($0) (\(CUDALibraries.paths.cublas))" } ?? "no cuBLAS"
            print("cuda       unavailable: \(reason) [found: \(nvrtc), \(cublas)]")
            printLoaderReport()
            return
        }
        let paths = CUDALibraries.paths
        let versions = "driver CUDA \((try? CUDALibraries.driverVersion()) ?? "?"), NVRTC \((try? CUDALibraries.nvrtcVersion()) ?? "?") "
            + "(\(paths.nvrtc)), cuBLAS \((try? CUDALibraries.cublasVersion()) ?? "?") (\(paths.cublas))"
        for d in devices {
            print("cuda:\(d.index)     \(d.name)")
            print("           compute capability \(d.major).\(d.minor) (\(d.architecture)), \(d.multiprocessors) multiprocessors, "
                + "\(d.memory >> 20) MiB memory")
            print("           \(versions)")
            do {
                let t = try CUDABackend.defaultTuning(for: d)
                print("           kernels: \(t.variant) variant, " + t.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: " ") + "; GEMM and 3×3 convolutions by cuBLAS")
            } catch {
                print("           kernels: \(error)")
            }
            if check {
                do {
                    let b = try CUDABackend(device: d)
                    print("           training steps: " + (b.recordsWork ? "captured once as a CUDA graph and replayed; "
                        + "GLOW_CUDA_GRAPHS=0 turns it off" : "enqueued launch by launch (no CUDA Graphs in this driver, "
                        + "or GLOW_CUDA_GRAPHS=0)"))
                    print("           memory: \((b.deviceMemory?.free ?? 0) >> 20) MiB free now; the buffer pool keeps up to "
                        + "\(b.poolLimitBytes >> 20) MiB of released buffers")
                    print(String(format: "           kernels.cl compiled by NVRTC in %.3f s (%@), %@", b.buildSeconds,
                                 b.moduleFromCache ? "from the cache" : "compiled", b.compileOptions.joined(separator: " ")))
                } catch {
                    print("           kernels.cl failed to build: \(error)")
                }
            }
        }
        printLoaderReport()
    }
}
