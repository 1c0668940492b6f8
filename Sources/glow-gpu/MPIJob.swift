import Foundation
import ArgumentParser
import GlowGPU
import GlowMPI

/// How a command runs as one rank of `mpirun -np N glow-gpu …`.
enum MPIJob {
    /// Runs `body` on this rank: ranks other than 0 print nothing to standard output
    /// (errors still reach standard error); an error on any rank prints it with the rank
    /// and ends the whole job through MPI_Abort, so no rank waits forever for it; success
    /// ends MPI normally.
    static func run(_ comm: any Communicator, _ command: String, _ body: () throws -> Void) throws {
        // (In-process ranks share the file descriptors: their `print` is silenced instead.)
        if !comm.isRoot && !(comm is ThreadCommunicator) {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { fflush(stdout); dup2(null, STDOUT_FILENO); close(null) }
        }
        do {
            try body()
        } catch let exit as ExitCode {
            // A deliberate stop (a signal, agreed by all ranks after a save): every rank ends alike.
            comm.finish()
            throw exit
        } catch {
            if comm.size > 1 {
                comm.abort("Error: glow-gpu \(command), rank \(comm.rank) of \(comm.size): \(error.commandLineDescription)\n"
                    + "glow-gpu: ending the MPI job (the last checkpoint written stays intact)", code: 1)
            }
            comm.finish()
            throw error
        }
        comm.finish()
    }
}
