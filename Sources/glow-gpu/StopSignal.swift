import Foundation

/// The first SIGINT or SIGTERM asks training to stop after its current step (it then saves
/// and exits with 128 + the signal); a second one ends the process at once.
enum StopSignal {
    /// The signal received (0 when none); written only by the handler.
    nonisolated(unsafe) static var received: Int32 = 0

    /// Installs the handlers for SIGINT and SIGTERM.
    static func install() {
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                if StopSignal.received != 0 {
                    // Only async-signal-safe calls here: write(2) of a static string and _exit.
                    let msg: StaticString = "\nsecond signal: stopping at once without saving\n"
                    _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
                    _exit(128 + sig)
                }
                StopSignal.received = sig
                let note: StaticString = "\nstop requested: finishing this step, then saving (a second signal stops at once without saving)\n"
                _ = write(2, note.utf8Start, note.utf8CodeUnitCount)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    /// The signal that asked to stop, if any.
    static var pending: Int32? { received == 0 ? nil : received }

    /// The signal's name for messages.
    static func name(_ sig: Int32) -> String { sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal \(sig)" }
}
