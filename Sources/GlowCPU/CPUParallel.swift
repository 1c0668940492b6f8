import Dispatch

/// The CPU backend's threads: `run(parts:)` deals an operation's parts to at most `count`
/// threads of a `CPUThreadPool` (each pinned to a core), thread t the t-th contiguous run of
/// them. Operations cut their data along the columns of their CNHW activations (images, then
/// positions), so thread t works on about the same images in every operation and finds them
/// in its own core's cache, as an MPI rank bound to a core does. (Dispatch's
/// `concurrentPerform` with each thread taking the next part measured 20.5 images/s on 2
/// cores against 29.6 for two single-thread MPI ranks.)
///
/// Which thread runs a part never changes what the part computes: the parts themselves come
/// from `CPUPartition`, which looks at the operation's sizes only, and every part writes
/// outputs (or partial sums) of its own. So results are bitwise the same for any `count`.
struct CPUWorkers {
    /// Threads, at least 1.
    let count: Int
    /// How operations are cut.
    let partition: CPUPartition

    /// The threads (nil for one: everything runs on the calling thread).
    let pool: CPUThreadPool?

    init(_ count: Int, partition: CPUPartition) {
        self.count = max(1, count); self.partition = partition
        pool = self.count > 1 ? CPUThreadPool.shared(count: self.count) : nil
    }

    /// Runs `body(part)` for every part in `0..<parts`, over the threads; on the calling
    /// thread alone when the operation's `work` (floats touched) is under two grains.
    func run(_ parts: Int, work: Int = .max, _ body: (Int) -> Void) {
        let threads = work < 2 * partition.elementGrain ? 1 : min(count, parts)
        if threads <= 1 {
            for p in 0..<parts { body(p) }
            return
        }
        pool!.run { t in
            if t < threads { for p in (t * parts / threads)..<((t + 1) * parts / threads) { body(p) } }
        }
    }

    /// Runs `body(range)` over `0..<count` cut into one range per thread (16-float aligned):
    /// for elementwise work (each element computed alone, so any cut gives the same result).
    func forChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let parts = count < 2 * partition.elementGrain ? 1 : count
        if parts <= 1 || count < 16 * self.count {
            if count > 0 { body(0..<count) }
            return
        }
        run(self.count) { t in body(CPUPartition.bounds(t, of: self.count, total: count, align: 16)) }
    }

    /// Runs `body(row, columns)` over a `rows × cols` matrix: one column range per thread
    /// (every row), or, for matrices too narrow for that, one row range per thread. For
    /// elementwise work; a CNHW activation's columns are its images, so thread t gets about
    /// the same images as in the GEMMs' column parts.
    func forRows(_ rows: Int, _ cols: Int, _ body: (Int, Range<Int>) -> Void) {
        if rows <= 0 || cols <= 0 { return }
        if rows * cols < 2 * partition.elementGrain || count == 1 {
            for r in 0..<rows { body(r, 0..<cols) }
            return
        }
        if cols >= 64 * count {
            run(count) { t in
                let js = CPUPartition.bounds(t, of: count, total: cols, align: 16)
                for r in 0..<rows { body(r, js) }
            }
        } else {
            run(count) { t in
                for r in CPUPartition.bounds(t, of: count, total: rows, align: 1) { body(r, 0..<cols) }
            }
        }
    }
}

/// How the CPU backend cuts an operation into parts: from the operation's sizes alone, never
/// from the thread count, so that any number of threads computes exactly the same floats.
///
/// - Elementwise work: any cut gives the same floats; one column range per thread.
/// - Sums (row sums, dot products, the gradient norm, the batch statistics): every row is
///   cut into column blocks by its length alone (`sumBlocks`); each block is summed by one
///   fixed SIMD loop (`CPUSum`), and a row's block sums are added in block order.
/// - GEMMs (`gemm(m:n:k:)`): split along the columns or rows of C (every element of C is then
///   computed by one single-threaded `cblas_sgemm` over the whole K, unaffected by the cut),
///   or, for a weight gradient (K, the batch's positions, much larger than M and N), along K
///   into fixed ranges whose partial products go to scratch and are added in range order.
struct CPUPartition: Sendable {
    /// Operations touching fewer than twice this many floats run on the calling thread.
    var elementGrain: Int
    /// The least floats per column block of a sum (a row has at most 8 blocks, 1, 2, or a
    /// multiple of 4 of them).
    var sumBlock: Int
    /// The least work worth a part of a GEMM: below it a GEMM runs whole.
    var gemmPartFlops: Int
    /// The most parts of a GEMM.
    var gemmMaxParts: Int
    /// The least rows or columns of C per part, and the least K per part of a split K, so a
    /// part's packing of the operand it shares stays small beside its arithmetic.
    var gemmMinRows: Int, gemmMinColumns: Int, gemmMinDepth: Int

    /// The backend's cut: threads only for operations past 128 KiB, sums in at most 8 column
    /// blocks of at least 512 floats (each summed in 32 KiB runs), GEMM parts
    /// of at least 4 MFLOP (a hundred microseconds or so on a core), at most 8 of them, at least
    /// 64 rows, 256 columns or 512 of K each.
    static let standard = CPUPartition(elementGrain: 16_384, sumBlock: 512, gemmPartFlops: 4_000_000, gemmMaxParts: 8,
                                       gemmMinRows: 64, gemmMinColumns: 256, gemmMinDepth: 512)

    /// The column blocks of a sum over `cols` values: 1, 2, or a multiple of 4 up to 8, each
    /// at least `sumBlock` long (a function of `cols` alone).
    func sumBlocks(_ cols: Int) -> Int {
        let p = min(8, cols / max(sumBlock, 1))
        return p >= 4 ? p / 4 * 4 : (p >= 2 ? 2 : 1)
    }

    /// Part `i` of `parts` near-equal ranges of `0..<total`, inner boundaries rounded down to
    /// multiples of `align`.
    static func bounds(_ i: Int, of parts: Int, total: Int, align: Int) -> Range<Int> {
        func edge(_ j: Int) -> Int {
            if j <= 0 { return 0 }
            if j >= parts { return total }
            return min(total, (j * total / parts) / align * align)
        }
        return edge(i)..<edge(i + 1)
    }

    /// How a GEMM is cut.
    enum GemmSplit: Equatable, Sendable {
        /// One call.
        case whole
        /// Ranges of C's columns (op(B)'s columns).
        case columns
        /// Ranges of C's rows (op(A)'s rows).
        case rows
        /// Ranges of K, partial products summed in order.
        case depth
    }

    /// The cut of a GEMM with C `m × n` and inner size `k`, and its number of parts: a
    /// function of `(m, n, k)` alone.
    func gemm(m: Int, n: Int, k: Int) -> (split: GemmSplit, parts: Int) {
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let byWork = Int(min(Double(gemmMaxParts), flops / Double(gemmPartFlops)))
        // 1, 2, or a multiple of 4: parts that 2 and 4 threads share out evenly.
        func even(_ p: Int) -> Int { p >= 4 ? p / 4 * 4 : (p >= 2 ? 2 : 1) }
        if k >= 4 * max(m, n) {   // a weight gradient: split the long reduction
            let parts = even(min(byWork, k / gemmMinDepth))
            return parts > 1 ? (.depth, parts) : (.whole, 1)
        }
        let byColumns = even(min(byWork, n / gemmMinColumns)), byRows = even(min(byWork, m / gemmMinRows))
        if byColumns >= byRows && byColumns > 1 { return (.columns, byColumns) }
        if byRows > 1 { return (.rows, byRows) }
        return (.whole, 1)
    }
}

/// The fixed summation of the CPU backend: one SIMD loop whose order depends only on the
/// number of terms.
enum CPUSum {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Floats per run of `sum` and `dot`: longer sums add their runs' sums in order.
    static let run = 8_192

    /// `Σ p[j]`, `j < n`: runs of `run` floats, each over four 8-wide accumulators in 32-float
    /// steps, then its tail; the runs' sums added in order.
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        if n <= run { return runSum(p, n) }
        var s: Float = 0
        for j in stride(from: 0, to: n, by: run) { s += runSum(p + j, min(run, n - j)) }
        return s
    }

    /// `Σ a[j] · b[j]`, `j < n`, in the order of `sum`.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        if n <= run { return runDot(a, b, n) }
        var s: Float = 0
        for j in stride(from: 0, to: n, by: run) { s += runDot(a + j, b + j, min(run, n - j)) }
        return s
    }

    @inline(__always)
    static func runSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var j = 0
        while j + 32 <= n {
            a0 += load(p + j); a1 += load(p + j + 8); a2 += load(p + j + 16); a3 += load(p + j + 24)
            j += 32
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while j < n { s += p[j]; j += 1 }
        return s
    }

    @inline(__always)
    static func runDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var j = 0
        while j + 32 <= n {
            a0 += load(a + j) * load(b + j); a1 += load(a + j + 8) * load(b + j + 8)
            a2 += load(a + j + 16) * load(b + j + 16); a3 += load(a + j + 24) * load(b + j + 24)
            j += 32
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while j < n { s += a[j] * b[j]; j += 1 }
        return s
    }
}
