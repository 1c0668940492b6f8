import Foundation

/// Paths of the repository the tests are built from (GlowTests reaches this through
/// `import GlowCoreTests`).
public enum TestPaths {
    /// The repository's root folder (this file is Tests/GlowCoreTests/Support/TestPaths.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}
