import GlowCore

// The CPU code of every `ElementOp` (their maths and arguments: ElementOp.swift), split
// over the backend's threads by sizes alone, so results do not depend on the thread count.
extension CPUBackend {
    public func run(_ op: ElementOp, _ args: [OpArgument<CPUBuffer>]) throws {
        switch op {
        case .scale:
            let a = try ElementOpArguments(op, args, count: 7)
            let xp = try a.buffer(0).pointer + a.int(1), alpha = try a.float(2), beta = try a.float(3)
            let yp = try a.buffer(4).pointer + a.int(5), count = try a.int(6)
            profile.time(.elementwise) {
                workers.forChunks(count) { r in for i in r { yp[i] = alpha * xp[i] + beta } }
            }
        case .flipTaps3x3:
            let a = try ElementOpArguments(op, args, count: 5)
            let s = try a.buffer(0).pointer, d = try a.buffer(1).pointer
            let c = try a.int(2), toTaps = try a.int(3) != 0, total = try a.int(4)
            try check(c > 0 && total % (9 * c) == 0, "flipTaps3x3 of \(total) floats in rows of 9×\(c)")
            let o = total / (9 * c)
            profile.time(.lowering) {
                workers.run(o, work: total) { oc in
                    for t in 0..<9 {
                        for ci in 0..<c {
                            if toTaps { d[(oc * 9 + t) * c + ci] = s[(oc * c + ci) * 9 + 8 - t] } else {
                                d[(oc * c + ci) * 9 + t] = s[(oc * 9 + 8 - t) * c + ci]
                            }
                        }
                    }
                }
            }
        }
    }
}
