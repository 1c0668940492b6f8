import Foundation
import XCTest
import GlowGPU   // public API only: no @testable here

/// What a user of `import GlowGPU` can do: build and save a model, load it by path on a
/// named device, sample, encode, decode, and read and write latent files.
final class PublicAPITests: XCTestCase {
    static let config = GlowConfig(channels: 1, height: 8, width: 8, K: 2, L: 2, hidden: 8, pad: 0)

    /// Devices by name: cpu, and opencl when an OpenCL device exists.
    static let devices: [String] = {
        ((try? OpenCLDeviceInfo.all())?.isEmpty == false) ? ["cpu", "opencl"] : ["cpu"]
    }()

    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("glow-public-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A checkpoint built with public calls only: a fresh model, ActNorms initialised on a batch.
    func saveCheckpoint() throws -> (String, [Float]) {
        let b = CPUBackend()
        let model = try Glow(config: Self.config, backend: b, seed: 4)
        let x = Philox.array(count: 4 * 64, distribution: .uniform(low: -0.5, high: 0.5), seed: 1, stream: 1)
        _ = try model.encode(try Tensor(b, nchw: x, images: 4, channels: 1, height: 8, width: 8), initialize: true)
        let path = dir.appendingPathComponent("m.safetensors").path
        try Checkpoint.save(model, to: path)
        return (path, x)
    }

    func testLoadSampleEncodeDecode() throws {
        let (path, x) = try saveCheckpoint()
        var samples: [[Float]] = []
        for device in Self.devices {
            let m = try GlowModel(checkpoint: path, device: device)
            XCTAssertEqual(m.config.K, 2)
            XCTAssertEqual(m.imageShape.channels, 1)
            XCTAssertEqual(m.latentShapes, [LatentShape(channels: 2, height: 4, width: 4), LatentShape(channels: 8, height: 2, width: 2)])
            XCTAssertFalse(m.deviceName.isEmpty)

            let images = try m.sample(count: 4, temperature: 0.7, seed: 2)
            XCTAssertEqual([images.count, images.channels, images.height, images.width], [4, 1, 8, 8])
            XCTAssertEqual(images.pixels.count, 4 * 64)
            let floats = try m.sampleFloats(count: 4, temperature: 0.7, seed: 2)
            XCTAssert(floats.allSatisfy(\.isFinite))
            XCTAssertEqual(images.pixels, try Preprocess.toPixels(floats, nBits: 8))
            samples.append(floats)

            // A fresh model's couplings are the identity and its priors N(0, I); the bpd of
            // the init batch is finite, and decode inverts encode.
            let z = try m.encode(floats: x, count: 4)
            XCTAssertEqual(z.count, 4)
            XCTAssertEqual(z.bpd.count, 4)
            XCTAssert(z.bpd.allSatisfy(\.isFinite))
            let back = try m.decode(z)
            XCTAssertLessThan(zip(back, x).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, "\(device): decode(encode(x))")

            // Pixels in, pixels out.
            let set = try ImageSet(count: 2, channels: 1, height: 8, width: 8, pixels: (0 ..< 128).map { UInt8($0 * 2) })
            let zs = try m.encode(set)
            // Up to one level: toPixels floors, and a reconstruction 1e-7 below a bin edge drops a level.
            let d = zip(try m.decodePixels(zs).pixels, set.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 99
            XCTAssertLessThanOrEqual(d, 1, "\(device): pixels round trip")

            // Latent files.
            let lf = dir.appendingPathComponent("z-\(device).safetensors").path
            try LatentFile.write(z, x: x, config: m.config, to: lf)
            let (read, rx) = try LatentFile.read(path: lf, shapes: m.latentShapes)
            XCTAssertEqual(read.levels, z.levels)
            XCTAssertEqual(rx, x)

            // HWC access of one image equals the NCHW pixels for one channel.
            XCTAssertEqual(try images.hwc(1), Array(images.pixels[64 ..< 128]))
            let png = dir.appendingPathComponent("grid-\(device).png").path
            try images.writePNGGrid(path: png, columns: 2)
            let grid = try PNGImage.read(path: png)
            XCTAssertEqual([grid.width, grid.height], [2 * 8 + 3, 2 * 8 + 3])
        }
        if samples.count == 2 {
            XCTAssertLessThan(zip(samples[0], samples[1]).map { abs($0 - $1) }.max() ?? .infinity, 1e-3, "cpu vs opencl samples")
        }
    }

    /// An image that overflowed is reported and drawn as a placeholder, the others kept.
    func testNotFiniteImagesAreNamed() throws {
        let (path, _) = try saveCheckpoint()
        let model = try GlowModel(checkpoint: path, device: "cpu")
        let d = model.config.dimension
        var x = try model.sampleFloats(count: 3, temperature: 0.5, seed: 2)
        XCTAssertEqual(Preprocess.notFiniteImages(x, imageSize: d), [])
        let good = try model.pixels(x, count: 3)
        XCTAssertEqual(good.notFinite, [])
        x[d + 1] = .nan
        let images = try model.pixels(x, count: 3)
        XCTAssertEqual(images.notFinite, [1])
        XCTAssertEqual(Array(images.pixels[0 ..< d]), Array(good.pixels[0 ..< d]))
        XCTAssertEqual(Array(images.pixels[2 * d ..< 3 * d]), Array(good.pixels[2 * d ..< 3 * d]))
        XCTAssertNotEqual(Array(images.pixels[d ..< 2 * d]), Array(good.pixels[d ..< 2 * d]))
    }

    func testErrors() throws {
        let missing = dir.appendingPathComponent("missing.safetensors").path
        XCTAssertThrowsError(try GlowModel(checkpoint: missing, device: "cpu")) { e in
            XCTAssert("\(e)".contains(missing), "\(e)")
        }
        XCTAssertThrowsError(try GlowModel(checkpoint: missing, device: "no-such-device-xyz")) { e in
            XCTAssert("\(e)".contains("no-such-device-xyz"), "\(e)")
        }
        let (path, _) = try saveCheckpoint()
        let m = try GlowModel(checkpoint: path, device: "cpu")
        XCTAssertThrowsError(try m.sample(count: 1, classLabel: 0)) { e in XCTAssert("\(e)".contains("unconditional"), "\(e)") }
        XCTAssertThrowsError(try m.sample(count: 0)) { e in XCTAssert("\(e)".contains("count"), "\(e)") }
        XCTAssertThrowsError(try m.encode(floats: [0, 0], count: 1)) { e in XCTAssert("\(e)".contains("1×8×8"), "\(e)") }
        let wrong = try ImageSet(count: 1, channels: 1, height: 5, width: 5, pixels: [UInt8](repeating: 0, count: 25))
        XCTAssertThrowsError(try m.encode(wrong)) { e in XCTAssert("\(e)".contains("1×5×5") && "\(e)".contains("1×8×8"), "\(e)") }
        let z = try Latents(count: 1, shapes: [LatentShape(channels: 2, height: 4, width: 4)], levels: [[Float](repeating: 0, count: 32)])
        XCTAssertThrowsError(try m.decode(z)) { e in XCTAssert("\(e)".contains("L = 2"), "\(e)") }
    }
}
