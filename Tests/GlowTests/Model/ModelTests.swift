import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

/// Builds a model whose ActNorms are initialised from `x` and whose zero-initialised
/// layers (Conv2dZeros in couplings, splits and the top prior) get random non-zero
/// values, so that every part of the flow does something.
func makeTestModel<B: Backend>(_ b: B, _ config: GlowConfig, seed: UInt64 = 3, images: Int = 2,
                               labels: [Int]? = nil) throws -> (Glow<B>, Tensor<B>) {
    let model = try Glow(config: config, backend: b, seed: seed)
    let x = try Tensor(b, nchw: randomValues(images * config.dimension, seed: seed, stream: 1, low: -0.5, high: 0.5),
                       images: images, channels: config.channels, height: config.height, width: config.width)
    _ = try model.encode(x, labels: labels, initialize: true)
    var s: UInt64 = 500
    for p in model.parameters where p.name.contains("conv_zeros") || p.name.contains("y_embed") || p.name.contains("classifier") {
        s += 1
        try b.upload(randomValues(p.count, seed: seed, stream: s).map { $0 * 0.05 }, to: p.value, offset: 0)
    }
    try model.refresh()
    return (model, x)
}

final class ModelTests: XCTestCase {
    static let variants: [(GlowConfig.Coupling, Bool)] = [(.affine, true), (.affine, false), (.additive, true), (.additive, false)]

    /// decode(encode(x)) == x to 1e-4 for K=4, L=3, every coupling and 1×1 variant.
    /// Float32 through 12 steps of couplings: errors of ~1e-6 per step, well below 1e-4.
    func testInvertibility() throws {
        for b in try TestBackends.all() { try checkInvertibility(b) }
    }

    func checkInvertibility<B: Backend>(_ b: B) throws {
        for (coupling, lu) in ModelTests.variants {
            let config = GlowConfig(channels: 3, height: 16, width: 16, K: 4, L: 3, hidden: 8, coupling: coupling, lu: lu)
            let (model, x) = try makeTestModel(b, config, images: 4)
            let enc = try model.encode(x)
            let back = try model.decode(enc.latents)
            let err = zip(try back.nchw(), try x.nchw()).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(err, 1e-4, "\(b.name) \(coupling) lu=\(lu): max |decode(encode(x)) - x|")
            XCTAssert(enc.bpd.allSatisfy(\.isFinite))
        }
        // The fixed permutations invert too.
        for perm in [GlowConfig.Permutation.reverse, .shuffle] {
            let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8, permutation: perm)
            let (model, x) = try makeTestModel(b, config)
            let back = try model.decode(try model.encode(x).latents)
            let err = zip(try back.nchw(), try x.nchw()).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThan(err, 1e-4, "\(b.name) permutation \(perm)")
        }
    }

    /// The engine's latents, logdet and log p equal the Float64 reference's; the reference's
    /// logdet equals log|det J| of a central-difference Jacobian of x → (z.0, …, z.{L-1}).
    func testAgainstFloat64ReferenceAndBruteForceJacobian() throws {
        for b in try TestBackends.all() { try checkReference(b) }
    }

    func checkReference<B: Backend>(_ b: B) throws {
        for (coupling, lu) in ModelTests.variants + [(.affine, true)] {
            let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 6, coupling: coupling, lu: lu)
            let (model, x) = try makeTestModel(b, config, images: 2)
            let ref = try ReferenceGlow(model)
            let x64 = ReferenceGlow.T(n: 2, c: 1, h: 8, w: 8, v: try x.nchw().map(Double.init))
            let r = ref.encode(x64)
            let e = try model.encode(x)
            for (i, (z, zr)) in zip(e.latents, r.latents).enumerated() {
                XCTAssertLessThan(relativeError(try z.nchw(), zr.v, floor: 1e-2), 1e-4, "\(b.name) \(coupling) lu=\(lu) z.\(i)")
            }
            for n in 0..<2 {
                // Sums of ~100 Float32 terms of size ~1: absolute 1e-3 on values of 10–100.
                XCTAssertEqual(e.logdet[n], r.logdet[n], accuracy: 1e-3 * max(1, abs(r.logdet[n])), "\(b.name) logdet")
                XCTAssertEqual(e.logp[n], r.logp[n], accuracy: 1e-3 * max(1, abs(r.logp[n])), "\(b.name) logp")
            }
            // Brute force: central differences of the Float64 reference, h = 1e-5 (error O(h²) ≈ 1e-10).
            let d = 64, h = 1e-5
            let x1 = ReferenceGlow.T(n: 1, c: 1, h: 8, w: 8, v: Array(x64.v[0..<d]))
            func f(_ v: [Double]) -> [Double] {
                ref.encode(ReferenceGlow.T(n: 1, c: 1, h: 8, w: 8, v: v)).latents.flatMap(\.v)
            }
            var jac = [Double](repeating: 0, count: d * d)
            for j in 0..<d {
                var plus = x1.v, minus = x1.v
                plus[j] += h; minus[j] -= h
                let fp = f(plus), fm = f(minus)
                XCTAssertEqual(fp.count, d)
                for i in 0..<d { jac[i * d + j] = (fp[i] - fm[i]) / (2 * h) }
            }
            let brute = ReferenceGlow.logAbsDet(jac, d)
            XCTAssertEqual(r.logdet[0], brute, accuracy: 1e-6 * max(1, abs(brute)), "reference logdet vs brute-force Jacobian")
            XCTAssertEqual(e.logdet[0], brute, accuracy: 1e-3 * max(1, abs(brute)), "\(b.name) engine logdet vs brute-force Jacobian")
        }
    }

    /// Each layer on its own against the reference's independent code.
    func testLayersAgainstReference() throws {
        for b in try TestBackends.all() { try checkLayers(b) }
    }

    func checkLayers<B: Backend>(_ b: B) throws {
        let config = GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 2, hidden: 5)
        let (model, _) = try makeTestModel(b, config, images: 3)
        let ref = try ReferenceGlow(model)
        let c = 4, n = 3
        let xv = randomValues(n * c * 16, stream: 77)
        let x = try Tensor(b, nchw: xv, images: n, channels: c, height: 4, width: 4)
        let x64 = ReferenceGlow.T(n: n, c: c, h: 4, w: 4, v: xv.map(Double.init))
        let step = model.levels[0].steps[0]
        let ctx = try FlowContext(b, images: n)
        // ActNorm
        let a = try step.actnorm.forward(x, ctx)
        let aref = ref.affine(x64, bias: ref.p["levels.0.steps.0.actnorm.bias"]!, logs: ref.p["levels.0.steps.0.actnorm.logs"]!, factor: 1)
        XCTAssertLessThan(relativeError(try a.nchw(), aref.v), 1e-5, "\(b.name) actnorm")
        XCTAssertLessThan(relativeError(try step.actnorm.reverse(a).nchw(), x64.v), 1e-5, "\(b.name) actnorm reverse")
        // 1×1 convolution
        let w = try step.invconv!.forward(a, ctx)
        let wref = ref.conv1x1(aref, ref.invconvMatrix("levels.0.steps.0.invconv", c), out: c)
        XCTAssertLessThan(relativeError(try w.nchw(), wref.v), 1e-5, "\(b.name) invconv")
        XCTAssertLessThan(relativeError(try step.invconv!.reverse(w).nchw(), aref.v), 1e-4, "\(b.name) invconv reverse")
        // Coupling
        let logdetBefore = try b.download(ctx.logdet)
        let y = try step.coupling.forward(w, ctx)
        let (yref, ldref) = ref.coupling(wref, "levels.0.steps.0.coupling")
        XCTAssertLessThan(relativeError(try y.nchw(), yref.v), 1e-4, "\(b.name) coupling")
        let ld = zip(try b.download(ctx.logdet), logdetBefore).map { Double($0 - $1) }
        XCTAssertLessThan(relativeError(ld.map(Float.init), ldref), 1e-4, "\(b.name) coupling logdet")
        XCTAssertLessThan(relativeError(try step.coupling.reverse(y).nchw(), wref.v), 1e-4, "\(b.name) coupling reverse")
        // Squeeze
        let big = try Tensor(b, nchw: Array(xv[0..<(n * 64)]), images: n, channels: 1, height: 8, width: 8)
        let sq = try model.levels[0].squeeze(big)
        XCTAssertEqual(try sq.nchw().map(Double.init), ref.squeeze(ReferenceGlow.T(n: n, c: 1, h: 8, w: 8, v: Array(xv[0..<(n * 64)]).map(Double.init))).v)
        XCTAssertEqual(try model.levels[0].unsqueeze(sq).nchw(), try big.nchw())
        // Split prior
        let ctx2 = try FlowContext(b, images: n)
        let (z1, z2) = try model.levels[0].split!.forward(x, ctx2)
        let h = ref.convZeros(x64.channels(0..<2), "levels.0.split.conv_zeros", out: 4)
        let lp = ref.gaussian(x64.channels(2..<4), mean: h.channels(stride: 2, from: 0), logs: h.channels(stride: 2, from: 1))
        XCTAssertLessThan(relativeError(try b.download(ctx2.logp), lp), 1e-4, "\(b.name) split log p")
        XCTAssertEqual(try model.levels[0].split!.reverse(z1, z2).nchw(), xv, "\(b.name) split reverse")
    }

    func testInvalidConfigurationsNameTheField() throws {
        func message(_ c: GlowConfig) -> String {
            do { try c.validate(); return "" } catch { return "\(error)" }
        }
        XCTAssert(message(GlowConfig(channels: 1, height: 28, width: 28, K: 2, L: 3, hidden: 4)).contains("image_shape"))
        XCTAssert(message(GlowConfig(channels: 1, height: 7, width: 8, K: 2, L: 1, hidden: 4)).contains("image_shape"))
        XCTAssert(message(GlowConfig(channels: 1, height: 8, width: 8, K: 0, L: 1, hidden: 4)).contains("K"))
        XCTAssert(message(GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 0, hidden: 4)).contains("L"))
        XCTAssert(message(GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 1, hidden: 0)).contains("hidden"))
        XCTAssert(message(GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 1, hidden: 4, nBits: 9)).contains("n_bits"))
        XCTAssertEqual(message(GlowConfig(channels: 1, height: 28, width: 28, K: 2, L: 2, hidden: 4)), "")
        var json = GlowConfig(channels: 1, height: 8, width: 8, K: 1, L: 1, hidden: 4).json()
        json = json.replacingOccurrences(of: "\"affine\"", with: "\"sideways\"")
        XCTAssertThrowsError(try GlowConfig.parse(json: json, source: "f")) { XCTAssert("\($0)".contains("coupling")) }
    }
}
