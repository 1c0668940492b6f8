import ArgumentParser
import Foundation
import GlowGPU

/// `glow-gpu devices`: the CPU backend and every OpenCL device.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices",
        abstract: "List the CPU backend and every OpenCL platform and device.")

    @Flag(help: "Also build kernels.cl on every OpenCL device and report the build time.")
    var check = false

    func run() throws {
        let cpu = CPUBackend()
        print("cpu        CPU backend: \(cpu.blasConfig)")
        print("           BLAS core \(cpu.blasCore), \(cpu.threads) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores")
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
}
