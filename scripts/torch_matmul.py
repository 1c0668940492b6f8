#!/usr/bin/env python3
"""torch.matmul in FP32 (TF32 off) at glow-gpu's GEMM shapes: the ceiling to compare
`glow-gpu bench --kernels` with. Prints one JSON object per shape and transpose, then a
plain summary line. Usage: torch_matmul.py [--device cuda] [--reps N] [M,N,K ...]

Default shapes: bench --kernels' 512 x 12544 x 512 (a 64-image batch at 14x14), and
M, K in {256, 512} with N = batch*H*W for the paper configuration's levels at batch 64
(16x16, 8x8, 4x4 -> N = 16384, 4096, 1024)."""
import json
import sys
import time


def main(argv):
    import torch

    device, reps, shapes = "cuda", 20, []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--device":
            device = args.pop(0)
        elif a == "--reps":
            reps = int(args.pop(0))
        else:
            shapes.append(tuple(int(v) for v in a.split(",")))
    if not shapes:
        shapes = [(512, 12544, 512)] + [(m, n, k) for n in (16384, 4096, 1024) for m in (256, 512) for k in (256, 512)]
    if device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 1
    # FP32 on the CUDA cores, as glow-gpu's OpenCL kernels compute: no TF32 tensor cores.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    best_overall = 0.0
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
            best_overall = max(best_overall, gflops)
            print(json.dumps({"device": name, "m": m, "n": n, "k": k, "op": trans, "tf32": False,
                              "seconds": round(seconds, 7), "gflops": round(gflops, 1)}), flush=True)
    print(f"torch.matmul FP32 on {name}: best {best_overall:.0f} GFLOP/s over {len(shapes) * 2} shapes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
