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
