#!/usr/bin/env python3
"""A model of one training step on a GPU from the counts `glow-gpu bench --json` reports
(docs/benchmarks.md, "The training step on the device"). Three models:

  serial:     T = launches·t_launch + waits·t_wait + batch·GFLOP/image ÷ rate
  overlapped: T = max(launches·t_launch, batch·GFLOP/image ÷ rate + launches·t_kernel) + waits·t_wait
  graph:      T = t_graph + batch·GFLOP/image ÷ rate + launches·t_kernel + waits·t_wait

The host pays t_launch per enqueue; while it does not wait, the GPU runs what is queued, so
the host's enqueueing and the GPU's work overlap (the second bound) until the host waits.
With the step replayed as one CUDA graph (the third) the host pays one graph launch and the
step's two small uploads (t_graph) and the GPU still pays its minimum per kernel node.
Usage: gpu-step-model.py [--json BENCH_JSON ...]  (without files: the counts measured on PoCL)."""
import json
import sys

T_LAUNCH = 5e-6    # host time per kernel launch (CUDA driver, OpenCL enqueue): 4–6 µs
T_WAIT = 20e-6     # one host wait: a synchronising read after the queue drains, 15–30 µs
T_KERNEL = 2e-6    # the GPU's own minimum time per small kernel (also per node of a graph)
T_GRAPH = 15e-6    # cuGraphLaunch plus the step's two uploads (pixel bytes, step scalars)
RATE = {"fp32": 35e12, "tf32": 100e12}   # realistic GEMM rates on an H100 (FP32 / TF32 tensor cores)
GFLOP = {"mnist": 1.932, "paper": 24.07}  # training FLOPs per image (FlopCount)

# (config, when): (launches, host waits) per step, GPU kernel variant, one process.
COUNTS = {
    ("mnist", "before"): (3427, 452),
    ("mnist", "after"): (1337, 1),
    ("paper", "before"): (9007, 1348),
    ("paper", "after"): (3547, 1),
}


def step_seconds(config, launches, waits, batch, precision, mode):
    gemm = batch * GFLOP[config] * 1e9 / RATE[precision]
    if mode == "graph":
        return T_GRAPH + gemm + launches * T_KERNEL + waits * T_WAIT
    if mode == "overlapped":
        return max(launches * T_LAUNCH, gemm + launches * T_KERNEL) + waits * T_WAIT
    return launches * T_LAUNCH + waits * T_WAIT + gemm


def main():
    counts = dict(COUNTS)
    args = sys.argv[1:]
    if args[:1] == ["--json"]:
        for path in args[1:]:
            with open(path) as f:
                d = json.load(f)
            counts[(d["config"], path)] = (d["kernel_launches"], d["host_waits"])
    print("| config | counts | batch | FP32 serial | FP32 overlapped | FP32 graph | TF32 serial | TF32 overlapped | TF32 graph |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (config, when), (launches, waits) in counts.items():
        for batch in (16, 64, 256):
            cells = []
            for precision in ("fp32", "tf32"):
                for mode in ("serial", "overlapped", "graph"):
                    # A step that waits hundreds of times neither overlaps nor replays.
                    if mode != "serial" and waits > 2:
                        cells.append("")
                        continue
                    t = step_seconds(config, launches, waits, batch, precision, mode)
                    cells.append(f"{batch / t:,.0f}")
            print(f"| {config} | {when}: {launches} launches, {waits} waits | {batch} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
