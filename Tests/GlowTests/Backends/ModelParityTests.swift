import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Whole models on the CPU and OpenCL backends: the same checkpoint encodes, samples and
/// differentiates alike (the model-level counterpart of `BackendParityTests`; formerly
/// `ModelTests.testBackendParity` and `GradientTests.testBackendGradientParity`).
final class ModelParityTests: XCTestCase {
    /// The same checkpoint and input give the same z, logdet and log p on CPU and OpenCL:
    /// normwise relative error 1e-5 on the latents and 1e-5 relative on the per-image sums.
    func testBackendParity() throws {
        guard let cl = try TestBackends.openCL() else { throw XCTSkip("no OpenCL device") }
        let cpu = TestBackends.cpu
        for (coupling, lu) in ModelTests.variants {
            let config = GlowConfig(channels: 1, height: 16, width: 16, K: 3, L: 2, hidden: 12, coupling: coupling, lu: lu)
            let (model, x) = try makeTestModel(cpu, config, images: 3)
            let file = try Checkpoint.file(model)
            let clModel = try Checkpoint.load(file, source: "memory", backend: cl)
            let xcl = try Tensor(cl, nchw: try x.nchw(), images: 3, channels: 1, height: 16, width: 16)
            let a = try model.encode(x), g = try clModel.encode(xcl)
            for (za, zg) in zip(a.latents, g.latents) {
                XCTAssertLessThan(normwiseError(try zg.nchw(), try za.nchw().map(Double.init)), 1e-5, "latent parity \(coupling) lu=\(lu)")
            }
            for n in 0..<3 {
                XCTAssertEqual(g.logdet[n], a.logdet[n], accuracy: 1e-5 * max(1, abs(a.logdet[n])))
                XCTAssertEqual(g.logp[n], a.logp[n], accuracy: 1e-5 * max(1, abs(a.logp[n])))
            }
            let sa = try model.sample(count: 2, temperature: 0.7, seed: 9).nchw()
            let sg = try clModel.sample(count: 2, temperature: 0.7, seed: 9).nchw()
            XCTAssertLessThan(zip(sa, sg).map { abs($0 - $1) }.max()!, 1e-3, "sample parity")
        }
    }

    /// CPU and OpenCL gradients agree (normwise relative 1e-4).
    func testBackendGradientParity() throws {
        guard let cl = try TestBackends.openCL() else { throw XCTSkip("no OpenCL device") }
        let cpu = TestBackends.cpu
        let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8, coupling: .affine, lu: true)
        let (model, x) = try makeTestModel(cpu, config, images: 4)
        let clModel = try Checkpoint.load(try Checkpoint.file(model), source: "memory", backend: cl)
        let xcl = try Tensor(cl, nchw: try x.nchw(), images: 4, channels: 1, height: 8, width: 8)
        let a = try model.gradients(x, memory: .reversible), g = try clModel.gradients(xcl, memory: .reversible)
        XCTAssertEqual(a.loss, g.loss, accuracy: 1e-5 * abs(a.loss))
        for (p, q) in zip(model.parameters.filter(\.trainable), clModel.parameters.filter(\.trainable)) {
            let u = try cpu.download(try p.gradient()), v = try cl.download(try q.gradient())
            XCTAssertLessThan(normwiseError(v, u.map(Double.init)), 1e-4, "\(p.name) cpu vs opencl")
        }
    }
}
