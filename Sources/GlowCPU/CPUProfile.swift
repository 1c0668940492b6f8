import Dispatch

/// Where the CPU backend's time goes, by kind of operation (`glow-gpu bench --profile`).
/// Off until `enabled` is set; then every operation adds its wall time to its category
/// (an operation called inside another is counted once, in the outer one). Used from the
/// thread that calls the backend.
public final class CPUProfile {
    /// Kinds of operation.
    public enum Category: Int, CaseIterable, Sendable {
        /// `cblas_sgemm` (1×1 convolutions, the convolutions' GEMMs, weight gradients).
        case gemm
        /// The 3×3 convolutions' lowering: im2col, col2im, the weights' tap re-layouts.
        case lowering
        /// Elementwise passes: ActNorm's affine map, couplings, priors, copies, fills, the batch.
        case elementwise
        /// Sums: row sums and dots, ActNorm's and Conv2dZeros' backward (fused with their
        /// elementwise part), per-image log-determinant sums, the gradient norm.
        case reductions
        /// The parameter update and the small per-step operations (LU weights, step decision).
        case update

        /// A short name for tables and JSON keys.
        public var name: String {
            switch self {
            case .gemm: "gemm"
            case .lowering: "conv_lowering"
            case .elementwise: "elementwise"
            case .reductions: "reductions"
            case .update: "update"
            }
        }
    }

    /// Whether operations are timed.
    public var enabled = false
    private var times = [Double](repeating: 0, count: Category.allCases.count)
    private var counts = [Int](repeating: 0, count: Category.allCases.count)
    /// GEMMs that ran cut into parts, and their parts, since the last `reset()`.
    public internal(set) var splitGemms = 0, gemmParts = 0
    /// Seconds and calls per GEMM shape (`"NT 256×256×12544 depth×16"`: transposes, m×n×k, the
    /// cut) since the last `reset()`.
    public internal(set) var gemmShapes: [String: (seconds: Double, calls: Int)] = [:]
    private var depth = 0

    init() {}

    /// Zero every figure.
    public func reset() {
        times = .init(repeating: 0, count: Category.allCases.count)
        counts = .init(repeating: 0, count: Category.allCases.count)
        splitGemms = 0; gemmParts = 0; gemmShapes = [:]
    }

    /// Seconds spent in `category` since the last `reset()`.
    public func seconds(_ category: Category) -> Double { times[category.rawValue] }
    /// Operations of `category` timed since the last `reset()`.
    public func calls(_ category: Category) -> Int { counts[category.rawValue] }

    /// Runs the GEMM `body`, adding its time to `.gemm` and to its shape's entry.
    func timeGEMM(_ shape: @autoclosure () -> String, _ body: () -> Void) {
        guard enabled, depth == 0 else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        time(.gemm, body)
        let key = shape()
        gemmShapes[key, default: (0, 0)].seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        gemmShapes[key, default: (0, 0)].calls += 1
    }

    /// Runs `body`, adding its time to `category` when enabled and not inside another timed call.
    @inline(__always)
    func time<T>(_ category: Category, _ body: () throws -> T) rethrows -> T {
        guard enabled, depth == 0 else { return try body() }
        depth += 1
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            depth -= 1
            times[category.rawValue] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            counts[category.rawValue] += 1
        }
        return try body()
    }
}
