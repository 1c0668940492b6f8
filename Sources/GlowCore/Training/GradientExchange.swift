import Foundation

/// Averages the trainable parameters' gradients over the ranks of a job with one
/// all-reduce per step: every gradient goes device → one contiguous host buffer, the
/// buffer is summed in place over the ranks, divided by their number, and goes back.
final class GradientExchange<B: Backend> {
    let parameters: [Parameter<B>]
    let communicator: any Communicator
    let backend: B
    /// All gradients back to back, in `parameters` order (allocated once).
    private var host: [Float]

    init(parameters: [Parameter<B>], backend: B, communicator: any Communicator) {
        self.parameters = parameters; self.backend = backend; self.communicator = communicator
        host = [Float](repeating: 0, count: parameters.reduce(0) { $0 + $1.count })
    }

    /// Replaces every gradient by its mean over the ranks; returns the seconds spent
    /// (copies included).
    func average() throws -> Double {
        let t0 = Date()
        try host.withUnsafeMutableBufferPointer { h in
            let base = h.baseAddress!
            var offset = 0
            for p in parameters {
                try backend.download(try p.gradient(), offset: 0, count: p.count, into: base + offset)
                offset += p.count
            }
            try communicator.allReduceSum(h)
            let scale = 1 / Float(communicator.size)
            for i in h.indices { h[i] *= scale }
            offset = 0
            for p in parameters {
                try backend.upload(from: base + offset, count: p.count, to: try p.gradient(), offset: 0)
                offset += p.count
            }
        }
        return Date().timeIntervalSince(t0)
    }
}
