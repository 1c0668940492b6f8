#!/usr/bin/env python3
"""torch.matmul at glow-gpu's GEMM shapes: the ceilings to compare `glow-gpu bench` and
`bench --kernels` with, in FP32 (TF32 off) and in TF32 (tensor cores). Prints one JSON
object per shape, transpose and precision, then one summary line per precision starting
with "torch.matmul". Exits 3, after one line saying why, when torch or its CUDA device is
missing (scripts/gpu-check.sh records the stage as skipped).

Usage: torch_matmul.py [--device cuda] [--reps N] [--precisions fp32,tf32]
                       [--glow-shapes "paper:64 mnist:64 paper:256"] [M,N,K ...]

Default shapes: bench --kernels' 512 x 12544 x 512 (a 64-image batch at 14x14), and
M, K in {256, 512} with N = batch*H*W for the levels of each config:batch of --glow-shapes
(paper: 16x16, 8x8, 4x4; mnist: 14x14, 7x7; tiny: 4x4, 2x2), paper:64 when not given."""
import json
import sys
import time

LEVELS = {"paper": (256, 64, 16), "mnist": (196, 49), "tiny": (16, 4)}


def glow_shapes(spec):
    ns = []
    for item in spec.split():
        config, _, batch = item.partition(":")
        if config not in LEVELS or not batch.isdigit():
            raise SystemExit(f"--glow-shapes {item!r}: expected config:batch with config one of {', '.join(LEVELS)}")
        ns += [int(batch) * hw for hw in LEVELS[config]]
    ns = sorted(set(ns), reverse=True)
    return [(512, 12544, 512)] + [(m, n, k) for n in ns for m in (256, 512) for k in (256, 512)]


def main(argv):
    device, reps, shapes, precisions, spec = "cuda", 20, [], ["fp32"], "paper:64"
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--device":
            device = args.pop(0)
        elif a == "--reps":
            reps = int(args.pop(0))
        elif a == "--precisions":
            precisions = args.pop(0).split(",")
            bad = [p for p in precisions if p not in ("fp32", "tf32")]
            if bad:
                raise SystemExit(f"--precisions: {', '.join(bad)} is not fp32 or tf32")
        elif a == "--glow-shapes":
            spec = args.pop(0)
        else:
            shapes.append(tuple(int(v) for v in a.split(",")))
    if not shapes:
        shapes = glow_shapes(spec)
    try:
        import torch
    except Exception as e:  # ImportError, or a torch that fails to load its libraries
        print(f"torch.matmul: skipped: torch is not importable ({type(e).__name__}: {e})")
        return 3
    if device == "cuda" and not torch.cuda.is_available():
        print(f"torch.matmul: skipped: torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
        return 3
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    best = {}
    for precision in precisions:
        # fp32: FP32 on the CUDA cores, as glow-gpu's OpenCL kernels compute; tf32: tensor cores.
        tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        for (m, n, k) in shapes:
            for trans in ("NN", "NT"):
                # NN: C[m,n] = A[m,k] B[k,n] (a 1x1 convolution). NT: C[m,k] = A[m,n] B[k,n]^T, the
                # weight gradient dY X^T with the long side inside, as bench --kernels' "gemm NT".
                if trans == "NN":
                    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
                else:
                    a, b = torch.randn(m, n, device=device), torch.randn(k, n, device=device).t()
                for _ in range(3):
                    torch.matmul(a, b)
                if device == "cuda":
                    torch.cuda.synchronize()
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    for _ in range(reps):
                        torch.matmul(a, b)
                    end.record()
                    torch.cuda.synchronize()
                    seconds = start.elapsed_time(end) / 1000 / reps
                else:
                    t = time.perf_counter()
                    for _ in range(reps):
                        torch.matmul(a, b)
                    seconds = (time.perf_counter() - t) / reps
                gflops = 2.0 * m * n * k / seconds / 1e9
                best[precision] = max(best.get(precision, 0.0), gflops)
                print(json.dumps({"device": name, "m": m, "n": n, "k": k, "op": trans, "tf32": tf32,
                                  "seconds": round(seconds, 7), "gflops": round(gflops, 1)}), flush=True)
    for precision in precisions:
        print(f"torch.matmul {precision.upper()} on {name}: best {best[precision]:.0f} GFLOP/s over {len(shapes) * 2} shapes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
