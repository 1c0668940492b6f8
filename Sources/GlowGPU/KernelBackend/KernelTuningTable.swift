import GlowCore

/// What the tuning table knows of a device that runs kernels.cl (an OpenCL device, or the
/// CUDA backend's GPU): what it matches entries on and the limits values are checked against.
public struct KernelDevice: Sendable, Equatable {
    /// `GPU`, `CPU`, `accelerator` or `other`.
    public var type: String
    /// The vendor string, e.g. `NVIDIA Corporation`.
    public var vendor: String
    /// The device name, e.g. `NVIDIA H200`.
    public var name: String
    /// Compute units (streaming multiprocessors, cores).
    public var computeUnits: Int
    /// The largest work-group a kernel may use.
    public var maxWorkGroupSize: Int
    /// `__local` (shared) memory per work-group in bytes.
    public var localMemory: Int

    /// A device description.
    public init(type: String, vendor: String, name: String, computeUnits: Int, maxWorkGroupSize: Int, localMemory: Int) {
        self.type = type; self.vendor = vendor; self.name = name; self.computeUnits = computeUnits
        self.maxWorkGroupSize = maxWorkGroupSize; self.localMemory = localMemory
    }
}

/// The table that picks kernels.cl's variant and constants for a device. An entry matches on
/// device type, vendor and name (case-insensitive substrings); the matching entry with the
/// most criteria wins, and its values are laid over the variant's defaults. Then
/// `GLOW_CL_VARIANT=cpu|gpu` forces the variant (the entry's values only count when its
/// variant is the forced one) and `GLOW_CL_TUNING=NAME=V,…` overrides single values. The
/// result is validated against the constraints kernels.cl relies on and the device's limits.
public enum KernelTuningTable {
    /// One row of the table.
    public struct Entry: Sendable {
        /// Substrings the device's type, vendor and name must contain (nil: any).
        public var type: String?, vendor: String?, name: String?
        /// The variant the entry selects.
        public var variant: KernelVariant
        /// Values laid over the variant's defaults.
        public var values: [String: Int]
        /// Criteria given: the most specific matching entry wins.
        var specificity: Int { [type, vendor, name].compactMap { $0 }.count }

        func matches(_ d: KernelDevice) -> Bool {
            func has(_ field: String, _ want: String?) -> Bool {
                guard let want else { return true }
                return field.lowercased().contains(want.lowercased())
            }
            return has(d.type, type) && has(d.vendor, vendor) && has(d.name, name)
        }
    }

    /// Every value kernels.cl and the launches understand, with what it sets.
    public static let valueDescriptions: [String: String] = Dictionary(uniqueKeysWithValues: Tunable.allCases.map { ($0.name, $0.summary) })

    /// Defaults of the CPU variant (the values PoCL was measured with, docs/kernel-notes.md).
    public static let cpuDefaults: [String: Int] = defaults([.gemmTV, .gemmLocal, .wgElementwise])

    /// Defaults of the GPU variant, for a GPU the table does not know (glow_ops.h): 64 × 64
    /// tiles of 16 × 16 work-items (4 × 4 registers each), K slices of 16 — a shape every GPU
    /// with 256-item groups and 16 KiB of local memory runs. `GROUPS_TARGET` is set per device
    /// (`GROUPS_PER_CU` groups per compute unit, 4 unless the entry knows its residency).
    public static let gpuDefaults: [String: Int] = defaults([.mwg, .nwg, .kwg, .mdimc, .ndimc, .wgReduce, .wgElementwise, .groupsPerCU])

    private static func defaults(_ tunables: [Tunable]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: tunables.map { ($0.name, $0.defaultValue) })
    }

    /// The table.
    public static let entries: [Entry] = [
        Entry(type: "CPU", vendor: nil, name: nil, variant: .cpu, values: [:]),
        Entry(type: "accelerator", vendor: nil, name: nil, variant: .gpu, values: [:]),
        Entry(type: "GPU", vendor: nil, name: nil, variant: .gpu, values: [:]),
        // NVIDIA (Hopper H100/H200, and the default for any NVIDIA GPU). 128 × 128 tiles of
        // 16 × 16 threads: an 8 × 8 register block per thread (64 accumulators) read from
        // shared memory as float4s, 64 FMAs per 4 vector loads, the 2-D register blocking that
        // reaches ~70% of cuBLAS in published SGEMM steps. K slices of 8, double-buffered:
        // 2·(132 + 132)·8·4 B = 16.5 KiB of shared memory per group; at K slices of 16 the
        // prefetch registers of double buffering push gemm_tiled past 128 registers (141),
        // and capped there it spills. CLBlast's A100 entry (32 × 64, 8 × 16 threads) is
        // smaller because it was tuned on large square matrices with many groups; Glow's
        // GEMMs (M, K ∈ {256, 512}, N = batch·H·W ≥ 16k at the top level) have N large and M
        // small, where the bigger tile halves the global/L2 traffic per FMA (21 → 32 FLOP/B).
        // Smaller levels fall back on split-K (GROUPS_TARGET) for parallelism.
        // GROUPS_PER_CU 2: the launch bound (CUDA) and -cl-nv-maxrregcount (OpenCL) hold the
        // tiled kernels to 128 registers, so two 256-thread groups (16 warps) are resident
        // per SM, and split-K counts two, not four (issue 15; docs/benchmarks.md has the
        // registers).
        Entry(type: "GPU", vendor: "NVIDIA", name: nil, variant: .gpu, values: [
            "MWG": 128, "NWG": 128, "KWG": 8, "MDIMC": 16, "NDIMC": 16, "WG_REDUCE": 256, "WG_ELEMENTWISE": 256,
            "GROUPS_PER_CU": 2,
        ]),
        // A100: CLBlast's tuned xgemm values (MWG 32, NWG 64, KWG 32, MDIMC 8, NDIMC 16).
        Entry(type: "GPU", vendor: "NVIDIA", name: "A100", variant: .gpu, values: [
            "MWG": 32, "NWG": 64, "KWG": 32, "MDIMC": 8, "NDIMC": 16, "WG_REDUCE": 256, "WG_ELEMENTWISE": 256,
        ]),
        // AMD: 64-wide wavefronts; 64 × 64 tiles of 16 × 16 work-items (4 wavefronts).
        Entry(type: "GPU", vendor: "Advanced Micro Devices", name: nil, variant: .gpu, values: [
            "MWG": 64, "NWG": 64, "KWG": 16, "MDIMC": 16, "NDIMC": 16, "WG_REDUCE": 256, "WG_ELEMENTWISE": 256,
        ]),
        Entry(type: "GPU", vendor: "AMD", name: nil, variant: .gpu, values: [
            "MWG": 64, "NWG": 64, "KWG": 16, "MDIMC": 16, "NDIMC": 16, "WG_REDUCE": 256, "WG_ELEMENTWISE": 256,
        ]),
        // Intel GPUs: SIMD-8/16 execution units with small register files; 32 × 32 tiles of
        // 8 × 8 work-items.
        Entry(type: "GPU", vendor: "Intel", name: nil, variant: .gpu, values: [
            "MWG": 32, "NWG": 32, "KWG": 16, "MDIMC": 8, "NDIMC": 8, "WG_REDUCE": 128, "WG_ELEMENTWISE": 128,
        ]),
    ]

    /// The best entry for `device` (nil when none matches: an unknown type gets the CPU variant).
    public static func entry(for device: KernelDevice) -> Entry? {
        entries.filter { $0.matches(device) }.max { $0.specificity < $1.specificity }
    }

    /// The tuning for `device`: table, then `GLOW_CL_VARIANT` and `GLOW_CL_TUNING` from
    /// `environment`, then `overrides`; validated.
    public static func tuning(for device: KernelDevice, environment: [String: String],
                              overrides: [String: Int] = [:]) throws -> KernelTuning {
        let best = entry(for: device)
        var variant = best?.variant ?? .cpu
        if let forced = environment["GLOW_CL_VARIANT"], !forced.isEmpty {
            guard let v = KernelVariant(rawValue: forced.lowercased()) else {
                throw GlowError("GLOW_CL_VARIANT=\(forced): expected cpu or gpu")
            }
            variant = v
        }
        var values = variant == .cpu ? cpuDefaults : gpuDefaults
        if let best, best.variant == variant { values.merge(best.values) { $1 } }
        for (k, v) in try parseOverrides(environment["GLOW_CL_TUNING"] ?? "") { values[k] = v }
        for (k, v) in overrides { values[k] = v }
        // Enough groups to fill every compute unit with as many as can be resident on it,
        // unless a value was given outright.
        if variant == .gpu && values[Tunable.groupsTarget.name] == nil {
            values[Tunable.groupsTarget.name] = max(1, device.computeUnits) * (values[Tunable.groupsPerCU.name] ?? Tunable.groupsPerCU.defaultValue)
        }
        // The widest __local vector (4, 2, 1) that divides a work-item's rows (columns),
        // unless one was given.
        if variant == .gpu {
            func widest(_ perItem: Int) -> Int { [4, 2, 1].first { perItem % $0 == 0 } ?? 1 }
            func value(_ t: Tunable) -> Int { values[t.name] ?? t.defaultValue }
            if values[Tunable.vwm.name] == nil { values[Tunable.vwm.name] = widest(value(.mwg) / max(1, value(.mdimc))) }
            if values[Tunable.vwn.name] == nil { values[Tunable.vwn.name] = widest(value(.nwg) / max(1, value(.ndimc))) }
        }
        let t = KernelTuning(variant: variant, values: values)
        try validate(t, device: device)
        return t
    }

    /// Parses `NAME=V,NAME=V` (GLOW_CL_TUNING); names must be known and values integers.
    public static func parseOverrides(_ text: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=", omittingEmptySubsequences: false)
            let name = kv.first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            guard kv.count == 2, let v = Int(kv[1].trimmingCharacters(in: .whitespaces)) else {
                throw GlowError("GLOW_CL_TUNING: \"\(item)\" is not NAME=INTEGER")
            }
            guard valueDescriptions[name] != nil else {
                throw GlowError("GLOW_CL_TUNING: unknown value \(name) (known: \(valueDescriptions.keys.sorted().joined(separator: ", ")))")
            }
            out[name] = v
        }
        return out
    }

    /// Throws, naming the value, unless `t` satisfies what kernels.cl and the launches rely
    /// on for this device.
    public static func validate(_ t: KernelTuning, device: KernelDevice) throws {
        for (k, v) in t.values {
            guard valueDescriptions[k] != nil else { throw GlowError("kernel tuning: unknown value \(k)") }
            guard v >= 1 else { throw GlowError("kernel tuning: \(k)=\(v) must be at least 1") }
        }
        func fail(_ why: String) -> GlowError { GlowError("kernel tuning for \(device.name) (\(t.variant) variant): \(why)") }
        func local(_ name: String, _ size: Int) throws {
            guard size <= device.maxWorkGroupSize else {
                throw fail("\(name) gives work-groups of \(size), more than the device's maximum \(device.maxWorkGroupSize)")
            }
        }
        let wg = t[.wgElementwise]
        try local("WG_ELEMENTWISE=\(wg)", wg)
        switch t.variant {
        case .cpu:
            guard t[.gemmTV] == 4 else {
                throw fail("GEMM_TV=\(t[.gemmTV]) must be 4 (gemm_packed's tile is written out for 4 × 64)")
            }
            try local("GEMM_LOCAL=\(t[.gemmLocal])", t[.gemmLocal])
        case .gpu:
            let g = t.gemmGeometry
            guard g.mwg % g.mdimc == 0 else { throw fail("MWG=\(g.mwg) must be a multiple of MDIMC=\(g.mdimc)") }
            guard g.nwg % g.ndimc == 0 else { throw fail("NWG=\(g.nwg) must be a multiple of NDIMC=\(g.ndimc)") }
            let threads = g.mdimc * g.ndimc
            guard (g.mwg * g.kwg) % threads == 0 else {
                throw fail("MWG·KWG=\(g.mwg * g.kwg) must be a multiple of MDIMC·NDIMC=\(threads)")
            }
            guard (g.nwg * g.kwg) % threads == 0 else {
                throw fail("NWG·KWG=\(g.nwg * g.kwg) must be a multiple of MDIMC·NDIMC=\(threads)")
            }
            try local("MDIMC·NDIMC=\(g.mdimc)·\(g.ndimc)", threads)
            let registers = (g.mwg / g.mdimc) * (g.nwg / g.ndimc)
            guard registers <= 256 else {
                throw fail("MWG/MDIMC · NWG/NDIMC = \(registers) accumulators per work-item; at most 256")
            }
            for (name, size) in [("MWG", g.mwg), ("NWG", g.nwg), ("KWG", g.kwg)] where threads % size != 0 {
                throw fail("MDIMC·NDIMC=\(threads) must be a multiple of \(name)=\(size) (each work-item stages one row, column or k of a slice)")
            }
            for (name, width, perItem, tile) in [("VWM", t[.vwm], g.mwg / g.mdimc, "MWG/MDIMC"), ("VWN", t[.vwn], g.nwg / g.ndimc, "NWG/NDIMC")] {
                guard [1, 2, 4].contains(width) else { throw fail("\(name)=\(width) must be 1, 2 or 4") }
                guard perItem % width == 0 else { throw fail("\(tile)=\(perItem) must be a multiple of \(name)=\(width)") }
            }
            // Two buffers of a K slice of A and of B, each row padded by one vector.
            let localBytes = 2 * (g.mwg + t[.vwm] + g.nwg + t[.vwn]) * g.kwg * 4
            guard localBytes <= device.localMemory else {
                throw fail("2·(MWG+VWM + NWG+VWN)·KWG·4 = \(localBytes) bytes of __local tiles, more than the device's \(device.localMemory)")
            }
            let r = t[.wgReduce]
            guard r & (r - 1) == 0 else { throw fail("WG_REDUCE=\(r) must be a power of two") }
            try local("WG_REDUCE=\(r)", r)
        }
    }
}

/// The GEMM tile constants of a GPU tuning.
public struct GemmGeometry: Sendable, Equatable {
    /// Tile rows, columns, K slice; work-items along M and N.
    public var mwg: Int, nwg: Int, kwg: Int, mdimc: Int, ndimc: Int
}

extension KernelTuning {
    /// The GPU GEMM tile (glow_ops.h's defaults where unset).
    public var gemmGeometry: GemmGeometry {
        GemmGeometry(mwg: self[.mwg], nwg: self[.nwg], kwg: self[.kwg], mdimc: self[.mdimc], ndimc: self[.ndimc])
    }
}
