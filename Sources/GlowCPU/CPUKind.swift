import GlowCore

/// The CPU backend as a `BackendKind`: one device, always available.
public struct CPUKind: BackendKind {
    /// Creates the kind.
    public init() {}
    public var name: String { "cpu" }
    public var specForms: [String] { [name] }
    public var autoRank: Int { 2 }
    public var autoDescription: String { "the CPU" }

    /// The CPU backend; under MPI with `--threads` absent, this rank's share of the cores.
    public func open(spec: String, original: String, precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? {
        guard spec == name else { return nil }
        return backend(placement)
    }

    public func openAuto(precision: GEMMPrecision, placement: Placement) throws -> (any Backend)? { backend(placement) }

    public func open(nameContaining fragment: String, precision: GEMMPrecision) throws -> (any Backend)? { nil }

    public func deviceNames() -> [String] { [] }

    private func backend(_ placement: Placement) -> CPUBackend {
        placement.localSize > 1 ? CPUBackend(threads: CPUThreads.defaultCount(localSize: placement.localSize)) : CPUBackend()
    }

    public func report(check: Bool) -> [String] {
        let cpu = CPUBackend()
        return [
            "cpu        CPU backend: \(cpu.blasConfig)",
            "           BLAS core \(cpu.blasCore), \(cpu.threads) threads (\(CPUThreads.requested != nil ? "--threads" : "default")); "
                + "\(CPUThreads.machineProcessors) processors, \(CPUThreads.affinityCount().map(String.init) ?? "?") in the affinity mask, "
                + "cgroup quota \(CPUThreads.cgroupQuota().map { "\($0) cores" } ?? "none")",
        ]
    }
}
