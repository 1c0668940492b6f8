import Foundation

/// Loads the datasets the command-line tools name (`mnist`, `fashion-mnist`, `cifar10`,
/// `folder`) and prepares them for a model: selection of a range, resampling and padding.
public enum DatasetLoader {
    /// The datasets known by name.
    public enum Kind: String, CaseIterable, Sendable {
        /// MNIST in IDX files (`train-images-idx3-ubyte[.gz]` …).
        case mnist
        /// Fashion-MNIST in IDX files, laid out like MNIST.
        case fashionMNIST = "fashion-mnist"
        /// The binary CIFAR-10 batches (`cifar-10-batches-bin`).
        case cifar10
        /// Every PNG file of a folder, unlabelled.
        case folder

        /// The kind `name` spells, or a `GlowError` listing the known names.
        public static func named(_ name: String) throws -> Kind {
            guard let k = Kind(rawValue: name.lowercased()) else {
                throw GlowError("\(Setting.dataset) \(name): unknown dataset; choose one of "
                    + allCases.map(\.rawValue).joined(separator: ", "))
            }
            return k
        }
    }

    /// Where Debian's `dataset-fashion-mnist` package installs the four IDX files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// The default MNIST folder: `data/mnist` relative to `currentDirectory`, else the first
    /// `data/mnist` found walking upward from the directory of `executable` (so a binary in
    /// `.build/debug` finds the repository's copy); `nil` when there is none.
    public static func defaultMNISTDirectory(currentDirectory: String = FileManager.default.currentDirectoryPath,
                                             executable: String? = executablePath()) -> String? {
        let fm = FileManager.default
        func isDir(_ p: String) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: p, isDirectory: &d) && d.boolValue
        }
        let local = URL(fileURLWithPath: currentDirectory).appendingPathComponent("data/mnist").path
        if isDir(local) { return local }
        guard let executable else { return nil }
        var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        while true {
            let candidate = dir.appendingPathComponent("data/mnist").path
            if isDir(candidate) { return candidate }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path || dir.path == "/" { return nil }
            dir = parent
        }
    }

    /// The path of the running executable (`/proc/self/exe` on Linux), or `nil`.
    public static func executablePath() -> String? {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return Bundle.main.executablePath
    }

    /// Loads one split of a dataset.
    ///
    /// - Parameters:
    ///   - kind: the dataset.
    ///   - directory: its folder; `nil` takes the default (MNIST: see
    ///     `defaultMNISTDirectory`; Fashion-MNIST: `fashionMNISTDirectory`); CIFAR-10 and
    ///     `folder` need one.
    ///   - split: `train` or `test` (ignored by `folder`).
    ///   - channels: the channels a `folder` of PNGs is converted to (1 or 3).
    /// - Throws: `GlowError` when a needed folder is not given or not found, `DataError`
    ///   from the readers (naming the file) otherwise.
    public static func load(_ kind: Kind, directory: String?, split: String, channels: Int = 1) throws -> ImageSet {
        guard split == "train" || split == "test" else {
            throw GlowError.invalid(.split, value: "\(split)", expected: "expected train or test")
        }
        switch kind {
        case .mnist:
            guard let dir = directory ?? defaultMNISTDirectory() else {
                throw GlowError("\(Setting.dataset) mnist: no data/mnist folder in the current directory or above the executable; "
                    + "pass \(Setting.data) with the folder holding the MNIST IDX files")
            }
            return try IDXReader.load(directory: dir, split: split)
        case .fashionMNIST:
            let dir = directory ?? fashionMNISTDirectory
            if directory == nil && !FileManager.default.fileExists(atPath: dir) {
                throw GlowError("\(Setting.dataset) fashion-mnist: \(dir) does not exist; install Debian's dataset-fashion-mnist "
                    + "package or pass \(Setting.data) with the folder holding the Fashion-MNIST IDX files")
            }
            return try IDXReader.load(directory: dir, split: split)
        case .cifar10:
            guard let dir = directory else {
                throw GlowError("\(Setting.dataset) cifar10 needs \(Setting.data): the folder holding cifar-10-batches-bin (or its batch files)")
            }
            return try CIFAR10Reader.load(directory: dir, split: split)
        case .folder:
            guard let dir = directory else {
                throw GlowError("\(Setting.dataset) folder needs \(Setting.data): the folder holding the PNG files")
            }
            return try PNGFolderReader.load(directory: dir, channels: channels)
        }
    }

    /// The images `offset ..< offset + count` (`count` nil: to the end) of `set`.
    /// - Throws: `GlowError` when the range does not lie in the set.
    public static func range(_ set: ImageSet, offset: Int, count: Int?) throws -> ImageSet {
        guard offset >= 0, offset < set.count else {
            throw GlowError.invalid(.offset, value: "\(offset)", expected: "the dataset holds \(set.count) images (0…\(set.count - 1))")
        }
        let n = count ?? (set.count - offset)
        guard n >= 1 else { throw GlowError.invalid(.count, value: "\(n)", expected: "must be at least 1") }
        guard n <= set.count - offset else {
            throw GlowError("\(Setting.offset) \(offset) \(Setting.count) \(n): runs past the dataset's \(set.count) images")
        }
        if offset == 0 && n == set.count { return set }
        return try set.subset(Array(offset ..< offset + n))
    }

    /// Resamples to `imageSize × imageSize` (when given, with `ImageTransform.resizeArea`)
    /// and then pads by `pad` zero pixels on each side (`ImageTransform.pad`).
    public static func prepare(_ set: ImageSet, imageSize: Int?, pad: Int) throws -> ImageSet {
        var s = set
        if let imageSize {
            guard imageSize >= 1 else { throw GlowError.invalid(.imageSize, value: "\(imageSize)", expected: "must be at least 1") }
            s = try ImageTransform.resizeArea(s, to: imageSize)
        }
        return try ImageTransform.pad(s, by: pad)
    }
}
