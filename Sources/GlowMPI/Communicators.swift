import Foundation
import GlowCore

/// Chooses the communicator for this process.
public enum Communicators {
    /// An `MPICommunicator` when the process runs under Open MPI's `mpirun` (it sets
    /// `OMPI_COMM_WORLD_SIZE`), else a `SingleProcessCommunicator`. Other launchers that
    /// set only PMI variables (MPICH's, Slurm's `srun` without Open MPI) are refused with a
    /// message rather than silently run N independent copies.
    public static func fromEnvironment() throws -> any Communicator {
        let env = ProcessInfo.processInfo.environment
        if env["OMPI_COMM_WORLD_SIZE"] != nil { return try MPICommunicator.start() }
        if let n = env["PMI_SIZE"].flatMap(Int.init), n > 1 {
            throw GlowError("this process was started by an MPI launcher other than Open MPI's mpirun (PMI_SIZE=\(n)); "
                + "glow-gpu supports Open MPI (Debian: openmpi-bin): run it with Open MPI's mpirun")
        }
        return SingleProcessCommunicator()
    }
}
