/// Where this process sits among the processes of one machine (the MPI ranks of a job):
/// a backend kind given by name alone opens device `localRank` modulo its device count, and
/// the CPU backend takes this rank's share of the cores.
public struct Placement: Sendable, Equatable {
    /// This process's index among the processes on this machine.
    public var localRank: Int
    /// The processes on this machine.
    public var localSize: Int
    /// Creates a placement.
    public init(localRank: Int, localSize: Int) { self.localRank = localRank; self.localSize = localSize }
    /// One process alone on the machine.
    public static let alone = Placement(localRank: 0, localSize: 1)
}

/// One kind of backend (the CPU, CUDA, OpenCL): it knows how to enumerate its devices,
/// describe them, open one, and say why it is unavailable. `BackendRegistry.kinds` (in
/// GlowGPU) lists them; `--device`, `glow-gpu devices`, its help and selftest read that list,
/// so a new backend is its own folder plus one entry there (docs/architecture.md).
public protocol BackendKind: Sendable {
    /// The name `--device` gives it, and the prefix of `NAME:N`.
    var name: String { get }
    /// The `--device` forms it accepts, for help and errors, e.g. `["cuda", "cuda:N"]`.
    var specForms: [String] { get }
    /// `auto`'s order of preference (lower first).
    var autoRank: Int { get }
    /// What `auto` takes of this kind, for help: e.g. "a CUDA device if usable".
    var autoDescription: String { get }
    /// Opens the backend `spec` names when this kind owns the spec (`spec` is trimmed and
    /// lowercased; `original` is what the user wrote, for messages), else returns nil.
    func open(spec: String, original: String, precision: GEMMPrecision, placement: Placement) throws -> (any Backend)?
    /// `auto`'s pick of this kind: a backend when it has a device `auto` should take, else nil.
    func openAuto(precision: GEMMPrecision, placement: Placement) throws -> (any Backend)?
    /// Opens the first device whose name (or platform) contains `fragment` (lowercased), or nil.
    func open(nameContaining fragment: String, precision: GEMMPrecision) throws -> (any Backend)?
    /// The names of its devices, for an error that lists what there is (empty when none).
    func deviceNames() -> [String]
    /// The lines `glow-gpu devices` prints for this kind (its devices, or why it is
    /// unavailable); with `check`, after building the kernels on every device.
    func report(check: Bool) -> [String]
}
