import Foundation

/// Averages the gradients over the ranks of a job with one all-reduce per step: the
/// model's gradient arena (the loss slot included) goes device → host in one download, is
/// summed in place over the ranks, divided by their number, and goes back in one upload.
final class GradientExchange<B: Backend> {
    let arena: ParameterArena<B>
    let communicator: any Communicator
    let backend: B
    /// The gradient arena on the host (allocated once).
    private var host: [Float]

    init(arena: ParameterArena<B>, backend: B, communicator: any Communicator) {
        self.arena = arena; self.backend = backend; self.communicator = communicator
        host = [Float](repeating: 0, count: arena.count)
    }

    /// Replaces every gradient by its mean over the ranks; returns the seconds spent
    /// (copies included).
    func average() throws -> Double {
        let t0 = Date()
        let g = try arena.gradients()
        try host.withUnsafeMutableBufferPointer { h in
            let base = h.baseAddress!
            try backend.download(g, offset: 0, count: h.count, into: base)
            try communicator.allReduceSum(h)
            let scale = 1 / Float(communicator.size)
            for i in h.indices { h[i] *= scale }
            try backend.upload(from: base, count: h.count, to: g, offset: 0)
        }
        return Date().timeIntervalSince(t0)
    }
}
