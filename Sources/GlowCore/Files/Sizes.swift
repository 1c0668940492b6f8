/// Sizes computed from numbers that come from files, options and configurations: every
/// product is overflow-checked, so a size past `Int` is a named error, never a trap.
public enum Sizes {
    /// The product of `factors`, or `nil` when it overflows `Int` or a factor is negative.
    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = result.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            result = p
        }
        return result
    }

    /// The product of `factors`, or `nil` when it overflows `Int` or a factor is negative.
    public static func product(_ factors: Int...) -> Int? { product(factors) }
}
