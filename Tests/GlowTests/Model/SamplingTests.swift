import Foundation
import XCTest
@testable import GlowCore
import GlowCPU
@testable import GlowGPU

final class SamplingTests: XCTestCase {
    static let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8)

    static func maxAbs(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// The same checkpoint and seed sample the same images on the CPU and OpenCL (1e-3).
    func testSampleParityCPUvsOpenCL() throws {
        guard let cl = try TestBackends.openCL() else { throw XCTSkip("no OpenCL device") }
        let (cpuModel, _) = try makeTestModel(TestBackends.cpu, Self.config)
        let clModel = try Checkpoint.load(try Checkpoint.file(cpuModel), source: "parity", backend: cl)
        for (t, seed) in [(Float(0.7), UInt64(5)), (1.0, 6), (0, 7)] {
            let a = try cpuModel.sample(count: 4, temperature: t, seed: seed).nchw()
            let b = try clModel.sample(count: 4, temperature: t, seed: seed).nchw()
            XCTAssert(a.allSatisfy(\.isFinite) && b.allSatisfy(\.isFinite), "T=\(t): finite samples")
            XCTAssertLessThan(Self.maxAbs(a, b), 1e-3, "T=\(t) seed \(seed): CPU vs OpenCL")
        }
        // Through the public wrapper too.
        let ga = try GlowModel(cpuModel).sampleFloats(count: 3, temperature: 0.7, seed: 11)
        let gb = try GlowModel(clModel).sampleFloats(count: 3, temperature: 0.7, seed: 11)
        XCTAssertLessThan(Self.maxAbs(ga, gb), 1e-3, "GlowModel CPU vs OpenCL")
    }

    /// Samples are finite, have the model's shape, depend on the seed, and repeat for a seed.
    func testSamplesFiniteAndSeeded() throws {
        for b in try TestBackends.all() { try checkSamples(b) }
    }

    func checkSamples<B: Backend>(_ b: B) throws {
        let (model, _) = try makeTestModel(b, Self.config)
        let g = try GlowModel(model)
        let s1 = try g.sampleFloats(count: 5, temperature: 1, seed: 1)
        XCTAssertEqual(s1.count, 5 * 64)
        XCTAssert(s1.allSatisfy(\.isFinite), "\(b.name): finite")
        XCTAssertEqual(try g.sampleFloats(count: 5, temperature: 1, seed: 1), s1, "\(b.name): same seed, same samples")
        XCTAssertGreaterThan(Self.maxAbs(try g.sampleFloats(count: 5, temperature: 1, seed: 2), s1), 1e-3, "\(b.name): seeds differ")
        let px = try g.sample(count: 5, temperature: 1, seed: 1)
        XCTAssertEqual(px.pixels, try Preprocess.toPixels(s1, nBits: 8), "\(b.name): sample pixels are toPixels of the floats")
        assertGlowError("\(b.name) class on an unconditional model", contains: ["unconditional"]) {
            _ = try g.sample(count: 1, classLabel: 3)
        }
    }

    /// At temperature 0 every z is its prior's mean. Expected: the top mean computed on the
    /// host in Float64 from the top prior's parameters (Conv2dZeros of zeros = bias · exp(3·logs)),
    /// the level-0 split mean from the Float64 reference's Conv2dZeros applied to the level-0
    /// z1 (the top latent run back through level 1), then decoded with the given latents.
    func testTemperatureZeroIsThePriorMeans() throws {
        for b in try TestBackends.all() { try checkTemperatureZero(b) }
    }

    func checkTemperatureZero<B: Backend>(_ b: B) throws {
        let config = Self.config   // L = 2: one split, then the top
        let (model, _) = try makeTestModel(b, config, images: 2)
        let ref = try ReferenceGlow(model)
        let n = 2
        // Top: C = 8 channels at 2×2; mean = h[:, :C] with h = (0 + bias) · exp(3 logs).
        let c1 = config.levelChannels(1), h1 = config.levelHeight(1), w1 = config.levelWidth(1)
        let bias = ref.p["top.conv_zeros.bias"]!, logs = ref.p["top.conv_zeros.logs"]!
        var top = [Float]()
        for _ in 0 ..< n { for c in 0 ..< c1 { for _ in 0 ..< h1 * w1 { top.append(Float(bias[c] * exp(3 * logs[c]))) } } }
        let zTop = try Tensor(b, nchw: top, images: n, channels: c1, height: h1, width: w1)
        // Level 0's z1: the top latent run back through level 1 (a plain flow, no sampling).
        let z1 = try model.levels[1].reverse(zTop, nil, temperature: 0, seed: 0, stream: 0)
        let c0 = config.levelChannels(0)
        XCTAssertEqual(z1.channels, c0 / 2)
        let z1Host = ReferenceGlow.T(n: n, c: z1.channels, h: z1.height, w: z1.width, v: try z1.nchw().map(Double.init))
        let hSplit = ref.convZeros(z1Host, "levels.0.split.conv_zeros", out: c0)
        let mean0 = hSplit.channels(stride: 2, from: 0)
        let z0 = try Tensor(b, nchw: mean0.v.map { Float($0) }, images: n, channels: c0 / 2, height: z1.height, width: z1.width)
        let expected = try model.decode([z0, zTop]).nchw()
        let got = try model.sample(count: n, temperature: 0, seed: 99).nchw()
        XCTAssertLessThan(Self.maxAbs(got, expected), 1e-4, "\(b.name): T=0 sample vs decoded prior means")
        // And the seed does not matter at T = 0.
        XCTAssertLessThan(Self.maxAbs(try model.sample(count: n, temperature: 0, seed: 1).nchw(), got), 1e-6, "\(b.name): T=0 ignores the seed")
        // The prior means are not trivially zero (the test model's priors are non-zero).
        XCTAssertGreaterThan(top.map(abs).max() ?? 0, 1e-3)
    }

    /// A small labelled set: label-1 images bright, others dark, with per-pixel noise.
    static func syntheticSet(count: Int = 12) throws -> ImageSet {
        let labels = (0 ..< count).map { [1, 0, 2, 1, 0, 1, 2, 0][$0 % 8] }
        let noise = Philox.array(count: count * 64, distribution: .uniform(low: 0, high: 60), seed: 4, stream: 9)
        var px = [UInt8]()
        for i in 0 ..< count {
            let base: Float = labels[i] == 1 ? 180 : 20
            for j in 0 ..< 64 { px.append(UInt8(base + noise[i * 64 + j])) }
        }
        return try ImageSet(count: count, channels: 1, height: 8, width: 8, pixels: px, labels: labels, classes: 3)
    }

    /// decode(encode(image i)), one image at a time, as the test's own reconstruction.
    func reconstruction<B: Backend>(_ model: Glow<B>, _ set: ImageSet, _ i: Int) throws -> [Float] {
        let x = try Tensor(model.backend, nchw: Preprocess.toModel(pixels: set.image(at: i), nBits: 8),
                           images: 1, channels: 1, height: 8, width: 8)
        return try model.decode(model.encode(x).latents).nchw()
    }

    /// The interpolation row starts and ends with the reconstructions of the two images and
    /// its midpoint decodes the average latents.
    func testInterpolationEndpoints() throws {
        for b in try TestBackends.all() { try checkInterpolation(b) }
    }

    func checkInterpolation<B: Backend>(_ b: B) throws {
        let (model, _) = try makeTestModel(b, Self.config)
        let g = try GlowModel(model)
        let set = try Self.syntheticSet()
        let n = 64
        let first = try reconstruction(model, set, 2), last = try reconstruction(model, set, 3)
        // The float route: encode both, interpolate, decode.
        let z = try g.encode(set.subset([2, 3]))
        let path = try g.interpolate(try z.selecting([0]), try z.selecting([1]), steps: 3)
        XCTAssertEqual(path.count, 3)
        let rowFloats = try g.decode(path)
        XCTAssertLessThan(Self.maxAbs(Array(rowFloats[0 ..< n]), first), 1e-5, "\(b.name): row starts with reconstruction 2")
        XCTAssertLessThan(Self.maxAbs(Array(rowFloats[2 * n ..< 3 * n]), last), 1e-5, "\(b.name): row ends with reconstruction 3")
        // Midpoint: decode of (z2 + z3)/2 at every level, latents from the engine's encoder directly.
        func enc(_ i: Int) throws -> [[Float]] {
            let x = try Tensor(b, nchw: Preprocess.toModel(pixels: set.image(at: i), nBits: 8), images: 1, channels: 1, height: 8, width: 8)
            return try model.encode(x).latents.map { try $0.nchw() }
        }
        let za = try enc(2), zb = try enc(3)
        let mid = try zip(zip(za, zb), model.latentShapes).map { pair, s in
            try Tensor(b, nchw: zip(pair.0, pair.1).map { 0.5 * $0 + 0.5 * $1 }, images: 1, channels: s.0, height: s.1, width: s.2)
        }
        XCTAssertLessThan(Self.maxAbs(Array(rowFloats[n ..< 2 * n]), try model.decode(mid).nchw()), 1e-5,
                          "\(b.name): midpoint decodes the mean latents")
        // The pixel route (what the CLI writes): the ends are the images themselves, up to one
        // quantisation level (a reconstruction 1e-7 below a bin edge floors to the bin below).
        let row = try g.interpolate(images: set, from: 2, to: 3, steps: 3)
        XCTAssertEqual(row.count, 3)
        for (k, i) in [(0, 2), (2, 3)] {
            let d = zip(row.pixels[k * n ..< (k + 1) * n], try set.image(at: i)).map { abs(Int($0) - Int($1)) }.max() ?? 99
            XCTAssertLessThanOrEqual(d, 1, "\(b.name): row image \(k) is image \(i)")
        }
    }

    /// The direction is mean(enc(first N with label L)) − mean(enc(first N without)), from the
    /// right images; α = 0 reproduces the reconstruction.
    func testManipulationDirection() throws {
        for b in try TestBackends.all() { try checkManipulation(b) }
    }

    func checkManipulation<B: Backend>(_ b: B) throws {
        let (model, _) = try makeTestModel(b, Self.config)
        let g = try GlowModel(model)
        g.batchSize = 2   // several device batches per group
        let set = try Self.syntheticSet(count: 12)
        // labels: 1 0 2 1 0 1 2 0 1 0 2 1 → label 1 at 0, 3, 5, 8, 11; others at 1, 2, 4, 6, 7, 9, 10.
        let (dir, nWith, nWithout) = try g.manipulationDirection(images: set, label: 1, count: 3)
        XCTAssertEqual(nWith, 3); XCTAssertEqual(nWithout, 3)
        func encodeMean(_ indices: [Int]) throws -> [[Double]] {
            var acc: [[Double]] = []
            for i in indices {
                let x = try Tensor(b, nchw: Preprocess.toModel(pixels: set.image(at: i), nBits: 8), images: 1, channels: 1, height: 8, width: 8)
                let z = try model.encode(x).latents.map { try $0.nchw().map(Double.init) }
                if acc.isEmpty { acc = z } else { for l in acc.indices { for j in acc[l].indices { acc[l][j] += z[l][j] } } }
            }
            return acc.map { $0.map { $0 / Double(indices.count) } }
        }
        let mWith = try encodeMean([0, 3, 5]), mWithout = try encodeMean([1, 2, 4])
        XCTAssertEqual(dir.count, 1)
        for l in 0 ..< Self.config.L {
            let expected = zip(mWith[l], mWithout[l]).map { $0 - $1 }
            XCTAssertLessThan(normwiseError(dir.levels[l], expected), 1e-5, "\(b.name): direction z.\(l)")
        }
        // Bright minus dark: the direction is not negligible.
        XCTAssertGreaterThan(dir.levels.flatMap { $0 }.map(abs).max() ?? 0, 0.1)

        let shifted = try g.decode(g.shift(try g.encode(set.subset([4])), along: dir, alphas: [0, 1, -1]))
        XCTAssertLessThan(Self.maxAbs(Array(shifted[0 ..< 64]), try reconstruction(model, set, 4)), 1e-5,
                          "\(b.name): alpha 0 is the reconstruction")
        let row = try g.manipulate(images: set, index: 4, direction: dir, alphas: [0, 1, -1])
        XCTAssertEqual(row.count, 3)
        XCTAssertEqual(row.pixels, try g.pixels(shifted, count: 3).pixels, "\(b.name): manipulate = decode of the shifted latents")
        // Adding the bright-minus-dark direction brightens the dark image 4 on average.
        let mean = { (r: Range<Int>) in Double(row.pixels[r].reduce(0) { $0 + Int($1) }) / Double(r.count) }
        XCTAssertGreaterThan(mean(64 ..< 128), mean(0 ..< 64), "\(b.name): alpha 1 brightens")

        assertGlowError("no labels", contains: ["labelled"]) {
            _ = try g.manipulationDirection(images: ImageSet(count: 1, channels: 1, height: 8, width: 8,
                                                             pixels: [UInt8](repeating: 0, count: 64)), label: 1, count: 1)
        }
        assertGlowError("absent label", contains: ["label 7"]) { _ = try g.manipulationDirection(images: set, label: 7, count: 2) }
    }
}
