import CCUDA
import Glibc

/// The loader's search for the CUDA libraries (Sources/CCUDA/loader.c) with its inputs
/// given explicitly: the tests run it on a fake tree of folders, and `environment()` gives
/// this process's own inputs. Loading itself (`CUDALibraries`) runs the same search.
public struct CUDALibrarySearch: Sendable {
    /// Which library to look for.
    public enum Library: Int32, Sendable {
        /// libcuda.so.1.
        case driver = 0
        /// libnvrtc.so.13 / .12 / .11.2.
        case nvrtc = 1
        /// libcublas.so.13 / .12 / .11.
        case cublas = 2
    }

    /// How a search ended.
    public enum Status: Int32, Sendable {
        /// A usable library was found (`Outcome.path`).
        case found = 0
        /// No candidate in any folder.
        case notFound = 1
        /// Candidates found, every one of a CUDA major newer than the driver's.
        case newerThanDriver = 2
        /// Candidates found that fail to load or lack a needed function.
        case unusable = 3
    }

    /// The result of `find`.
    public struct Outcome: Sendable {
        /// How the search ended.
        public let status: Status
        /// The file chosen, when found.
        public let path: String?
        /// Why none was chosen ("" when found).
        public let message: String
        /// One line per candidate loaded, skipped (and why) or failed.
        public let report: [String]
    }

    /// GLOW_CUDA_PATH.
    public var cudaPath: String?
    /// PATH (the prefix of every python3 on it is searched).
    public var path: String?
    /// VIRTUAL_ENV.
    public var virtualEnv: String?
    /// CONDA_PREFIX.
    public var condaPrefix: String?
    /// HOME.
    public var home: String?
    /// Where `.cuda-tools` is looked for first.
    public var workingDirectory: String?
    /// The program (`.cuda-tools` beside it and up to four folders above).
    public var executable: String?
    /// The folder libcuda.so.1 was loaded from.
    public var driverDirectory: String?
    /// Prefixed to every fixed system folder (`/usr/local/cuda…`): "" on a real machine, a
    /// fake root in tests.
    public var systemRoot: String
    /// Whether the dynamic loader's own search (a plain dlopen of the soname) is tried.
    public var loaderPath: Bool

    /// A search with the given inputs; unset ones are not searched.
    public init(cudaPath: String? = nil, path: String? = nil, virtualEnv: String? = nil, condaPrefix: String? = nil,
                home: String? = nil, workingDirectory: String? = nil, executable: String? = nil,
                driverDirectory: String? = nil, systemRoot: String = "", loaderPath: Bool = true) {
        self.cudaPath = cudaPath; self.path = path; self.virtualEnv = virtualEnv; self.condaPrefix = condaPrefix
        self.home = home; self.workingDirectory = workingDirectory; self.executable = executable
        self.driverDirectory = driverDirectory; self.systemRoot = systemRoot; self.loaderPath = loaderPath
    }

    /// This process's inputs: its environment, working directory, executable and driver.
    public static func environment() -> CUDALibrarySearch {
        var s = GlowCUDASearch()
        glow_cuda_search_from_environment(&s)
        func text(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
        return CUDALibrarySearch(cudaPath: text(s.cudaPath), path: text(s.path), virtualEnv: text(s.virtualEnv),
                                 condaPrefix: text(s.condaPrefix), home: text(s.home),
                                 workingDirectory: text(s.workingDirectory), executable: text(s.executable),
                                 driverDirectory: text(s.driverDirectory), systemRoot: text(s.systemRoot) ?? "",
                                 loaderPath: s.loaderPath != 0)
    }

    /// Runs `body` with the C form of these inputs (valid only inside `body`).
    private func withC<T>(_ body: (UnsafePointer<GlowCUDASearch>) -> T) -> T {
        let strings = [cudaPath, path, virtualEnv, condaPrefix, home, workingDirectory, executable, driverDirectory, systemRoot]
        let copies = strings.map { $0.map { UnsafePointer(strdup($0)!) } }
        defer { copies.forEach { $0.map { free(UnsafeMutablePointer(mutating: $0)) } } }
        var s = GlowCUDASearch(cudaPath: copies[0], path: copies[1], virtualEnv: copies[2], condaPrefix: copies[3],
                               home: copies[4], workingDirectory: copies[5], executable: copies[6],
                               driverDirectory: copies[7], systemRoot: copies[8], loaderPath: loaderPath ? 1 : 0)
        return body(&s)
    }

    /// The folders searched for `library`, in order; "(the dynamic loader's path)" stands for
    /// the loader's own search.
    public func folders(_ library: Library) -> [String] {
        withC { s in
            var out = [CChar](repeating: 0, count: 1 << 16)
            _ = glow_cuda_search_folders(library.rawValue, s, &out, out.count)
            return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: "\n").map(String.init)
        }
    }

    /// Searches for `library` as loading does, for a driver of `driverVersion` (12040 for
    /// CUDA 12.4; 0: no driver, any major), opening and closing the candidates.
    public func find(_ library: Library, driverVersion: Int) -> Outcome {
        withC { s in
            var path = [CChar](repeating: 0, count: 4096), message = [CChar](repeating: 0, count: 4096)
            var report = [CChar](repeating: 0, count: 16384)
            let st = glow_cuda_find_library(library.rawValue, s, Int32(driverVersion), &path, path.count, &message, message.count,
                                            &report, report.count)
            func text(_ a: [CChar]) -> String { a.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
            let status = Status(rawValue: st) ?? .notFound
            return Outcome(status: status, path: status == .found ? text(path) : nil, message: text(message),
                           report: text(report).split(separator: "\n").map(String.init))
        }
    }
}
