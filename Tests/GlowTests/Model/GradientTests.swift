import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// The hand-written backward passes against central finite differences of the Float64
/// reference model's loss (mean bpd), for every parameter tensor of every layer kind.
final class GradientTests: XCTestCase {
    /// Central differences with h = 1e-6 in Float64 are accurate to ~1e-9 (h = 1e-4 was
    /// seen to straddle a ReLU kink and miss by 1%); the engine's
    /// Float32 gradients carry relative errors of ~1e-4 from sums over the batch, so the
    /// tolerance is 2e-3 relative plus an absolute floor of 1e-3 × the largest gradient entry.
    func testGradientsAgainstFiniteDifferences() throws {
        // The CPU backend here; OpenCL's gradients equal the CPU's (testBackendGradientParity).
        for (coupling, lu) in ModelTests.variants { try checkGradients(TestBackends.cpu, coupling, lu) }
    }

    func checkGradients<B: Backend>(_ b: B, _ coupling: GlowConfig.Coupling, _ lu: Bool) throws {
        let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 6, coupling: coupling, lu: lu)
        let (model, x) = try makeTestModel(b, config, images: 3)
        let pass = try model.gradients(x, memory: .store)
        let ref = try ReferenceGlow(model)
        let x64 = ReferenceGlow.T(n: 3, c: 1, h: 8, w: 8, v: try x.nchw().map(Double.init))
        XCTAssertEqual(pass.loss, ref.loss(x64), accuracy: 1e-4, "\(b.name) loss")
        var worst = 0.0, checked = 0
        for p in model.parameters where p.trainable {
            let g = try b.download(try p.gradient())
            let scale = (g.map { abs(Double($0)) }.max() ?? 0) * 1e-3
            // Three entries per tensor: first, last and one in between (not structurally zero:
            // LU's lower/upper entries outside their triangle are unused and have zero gradient).
            var idx = [0, p.count / 2, p.count - 1]
            if p.name.hasSuffix(".lower") { let c = p.shape[0]; idx = [c, (c - 1) * c, c * c - 2] }
            if p.name.hasSuffix(".upper") { let c = p.shape[0]; idx = [1, c - 1, (c - 2) * c + c - 1] }
            if p.name.hasSuffix("top.conv_zeros.weight") { continue }   // acts on zeros: exactly 0 (checked below)
            for i in Set(idx) {
                var plus = ref, minus = ref
                let h = 1e-6
                plus.p[p.name]![i] += h
                minus.p[p.name]![i] -= h
                let fd = (plus.loss(x64) - minus.loss(x64)) / (2 * h)
                let err = abs(Double(g[i]) - fd)
                worst = max(worst, err / (abs(fd) + scale + 1e-6))
                XCTAssertLessThan(err, 2e-3 * abs(fd) + scale + 1e-6,
                                  "\(b.name) \(coupling) lu=\(lu) ∂loss/∂\(p.name)[\(i)]: engine \(g[i]) vs finite differences \(fd)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 40)
        if let w = model.top.convZeros?.conv.weight {
            XCTAssert(try b.download(try w.gradient()).allSatisfy { $0 == 0 })
        }
    }

    /// A class-conditional model: the class embedding, the classifier and the cross-entropy
    /// term's gradient through z, against finite differences of the Float64 loss.
    func testConditionalGradientsAgainstFiniteDifferences() throws {
        let b = TestBackends.cpu
        var config = GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 2, hidden: 6)
        config.classes = 3
        let labels = [2, 0, 1]
        let (model, x) = try makeTestModel(b, config, images: 3, labels: labels)
        let pass = try model.gradients(x, labels: labels, memory: .store)
        XCTAssertNotNil(pass.crossEntropy)
        let ref = try ReferenceGlow(model)
        let x64 = ReferenceGlow.T(n: 3, c: 1, h: 8, w: 8, v: try x.nchw().map(Double.init))
        XCTAssertEqual(pass.loss, ref.loss(x64, labels: labels), accuracy: 1e-4)
        let names = ["top.y_embed.weight", "top.y_embed.bias", "top.y_embed.logs", "top.classifier.weight",
                     "top.classifier.bias", "top.classifier.logs", "top.conv_zeros.logs", "levels.1.steps.0.actnorm.bias",
                     "levels.0.steps.0.coupling.conv2.weight"]
        for p in model.parameters where names.contains(p.name) {
            let g = try b.download(try p.gradient())
            let scale = (g.map { abs(Double($0)) }.max() ?? 0) * 1e-3
            for i in Set([0, p.count / 2, p.count - 1]) {
                var plus = ref, minus = ref
                plus.p[p.name]![i] += 1e-6
                minus.p[p.name]![i] -= 1e-6
                let fd = (plus.loss(x64, labels: labels) - minus.loss(x64, labels: labels)) / 2e-6
                XCTAssertLessThan(abs(Double(g[i]) - fd), 2e-3 * abs(fd) + scale + 1e-6,
                                  "∂loss/∂\(p.name)[\(i)]: engine \(g[i]) vs finite differences \(fd)")
            }
        }
        // Conditional sampling: per-class prior means differ, parity across backends.
        let s0 = try model.sample(count: 2, temperature: 0, seed: 1, labels: [0, 1]).nchw()
        XCTAssertNotEqual(Array(s0[0..<64]), Array(s0[64..<128]))
        if let cl = try TestBackends.openCL() {
            let m2 = try Checkpoint.load(try Checkpoint.file(model), source: "memory", backend: cl)
            let s1 = try m2.sample(count: 2, temperature: 0.7, seed: 1, labels: [0, 1]).nchw()
            let s2 = try model.sample(count: 2, temperature: 0.7, seed: 1, labels: [0, 1]).nchw()
            XCTAssertLessThan(zip(s1, s2).map { abs($0 - $1) }.max()!, 1e-3)
        }
        XCTAssertThrowsError(try model.encode(x)) { XCTAssert("\($0)".contains("labels are required")) }
    }

    /// `--memory store` and `--memory reversible` give the same gradients (the reversible
    /// pass recovers activations through Float32 inverses: relative 1e-4).
    func testStoreAndReversibleAgree() throws {
        for b in try TestBackends.all() { try checkModes(b) }
    }

    func checkModes<B: Backend>(_ b: B) throws {
        let config = GlowConfig(channels: 1, height: 8, width: 8, K: 3, L: 2, hidden: 8)
        let (model, x) = try makeTestModel(b, config, images: 4)
        let a = try model.gradients(x, memory: .store)
        let ga = try model.parameters.filter(\.trainable).map { try b.download(try $0.gradient()) }
        let r = try model.gradients(x, memory: .reversible)
        let gr = try model.parameters.filter(\.trainable).map { try b.download(try $0.gradient()) }
        XCTAssertEqual(a.loss, r.loss, accuracy: 1e-9)
        for (p, (u, v)) in zip(model.parameters.filter(\.trainable), zip(ga, gr)) {
            XCTAssertLessThan(normwiseError(v, u.map(Double.init)), 1e-4, "\(b.name) \(p.name) store vs reversible")
        }
    }
}
