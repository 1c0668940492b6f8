import Foundation

/// Small dense square matrices in Float64, for the invertible 1×1 convolution: its
/// inverse and log-determinant are computed on the host in double precision, once per
/// weight update, never per batch.
public struct Matrix64: Equatable, Sendable {
    /// Side length.
    public let n: Int
    /// Row-major entries.
    public var values: [Double]

    /// An `n × n` matrix of `values` (row-major).
    /// - Throws: `GlowError` when `values.count != n · n`.
    public init(n: Int, values: [Double]) throws {
        guard n >= 0, let nn = Sizes.product([n, n]), values.count == nn else {
            throw GlowError("matrix: \(values.count) values for \(n)×\(n)")
        }
        self.n = n; self.values = values
    }

    /// The `n × n` zero matrix (empty for n ≤ 0).
    init(zeros n: Int) {
        self.n = max(0, n); values = [Double](repeating: 0, count: max(0, n) * max(0, n))
    }

    /// The identity.
    public static func identity(_ n: Int) -> Matrix64 {
        var m = Matrix64(zeros: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    /// Entry (row i, column j).
    public subscript(i: Int, j: Int) -> Double {
        get { values[i * n + j] }
        set { values[i * n + j] = newValue }
    }

    /// Matrix product.
    public static func * (a: Matrix64, b: Matrix64) -> Matrix64 {
        var c = Matrix64(zeros: a.n)
        for i in 0..<a.n { for k in 0..<a.n {
            let v = a[i, k]
            if v == 0 { continue }
            for j in 0..<a.n { c.values[i * a.n + j] += v * b.values[k * a.n + j] }
        } }
        return c
    }

    /// Float32 copy of the entries.
    public var floats: [Float] { values.map { Float($0) } }

    /// A random orthogonal matrix: Q of the QR decomposition (modified Gram–Schmidt) of a
    /// Gaussian matrix, as Glow initialises W.
    public static func randomOrthogonal(_ n: Int, seed: UInt64, stream: UInt64) -> Matrix64 {
        let g = Philox.array(count: n * n, distribution: .normal, seed: seed, stream: stream).map(Double.init)
        // Columns of g orthonormalised.
        var q = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for j in 0..<n {
            var v = (0..<n).map { g[$0 * n + j] }
            for p in 0..<j {
                let d = zip(q[p], v).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<n { v[i] -= d * q[p][i] }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            q[j] = v.map { $0 / norm }
        }
        var m = Matrix64(zeros: n)
        for i in 0..<n { for j in 0..<n { m[i, j] = q[j][i] } }
        return m
    }

    /// LU decomposition with partial pivoting, `A = P · L · U`: `p` as a permutation
    /// matrix, `lower` unit lower triangular, `upper` upper triangular (with the diagonal).
    /// Nil when A is singular.
    public func luDecomposition() -> (p: Matrix64, lower: Matrix64, upper: Matrix64)? {
        var a = self
        var perm = Array(0..<n)
        for k in 0..<n {
            var piv = k
            for i in k..<n where abs(a[i, k]) > abs(a[piv, k]) { piv = i }
            if a[piv, k] == 0 { return nil }
            if piv != k {
                for j in 0..<n { let t = a[k, j]; a[k, j] = a[piv, j]; a[piv, j] = t }
                perm.swapAt(k, piv)
            }
            for i in (k + 1)..<max(n, k + 1) where i < n {
                a[i, k] /= a[k, k]
                let f = a[i, k]
                for j in (k + 1)..<n { a[i, j] -= f * a[k, j] }
            }
        }
        var l = Matrix64.identity(n), u = Matrix64(zeros: n)
        for i in 0..<n { for j in 0..<n { if j < i { l[i, j] = a[i, j] } else { u[i, j] = a[i, j] } } }
        // Row i of (P·L·U) is row perm[i] of... we permuted rows of A: P_r · A = L · U, so A = P_rᵀ · L · U.
        var p = Matrix64(zeros: n)
        for i in 0..<n { p[perm[i], i] = 1 }
        return (p, l, u)
    }

    /// `log |det A|` and the inverse, through LU; nil when singular.
    public func inverseAndLogAbsDet() -> (inverse: Matrix64, logAbsDet: Double)? {
        guard let (p, l, u) = luDecomposition() else { return nil }
        var logdet = 0.0
        for i in 0..<n { logdet += Foundation.log(abs(u[i, i])) }
        // A⁻¹ = U⁻¹ · L⁻¹ · Pᵀ, by solving column by column.
        var inv = Matrix64(zeros: n)
        for col in 0..<n {
            // e = Pᵀ column col: solve A x = e_col. With A = P L U: L U x = Pᵀ e_col.
            var b = (0..<n).map { p[col, $0] }   // (Pᵀ e_col)_i = P[col, i]
            for i in 0..<n { for k in 0..<i { b[i] -= l[i, k] * b[k] } }
            for i in stride(from: n - 1, through: 0, by: -1) {
                for k in (i + 1)..<max(n, i + 1) where k < n { b[i] -= u[i, k] * b[k] }
                b[i] /= u[i, i]
            }
            for i in 0..<n { inv[i, col] = b[i] }
        }
        return (inv, logdet)
    }
}
