#!/usr/bin/env python3
"""Draws docs/architecture.png: glow-gpu's modules and what may import what.

    python3 scripts/architecture-figure.py [OUT.png]      (needs matplotlib)
"""
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

# (name, x, y, what it holds, colour)
boxes = {
    "examples":            (0.0, 5.0, "sample / train from Swift", "#f2d7d5"),
    "glow-gpu":            (3.1, 5.0, "the CLI: parse, call, print", "#f2d7d5"),
    "glow-gpu-serve":      (6.2, 5.0, "the server process of `serve`", "#f2d7d5"),
    "GlowMPI":             (0.0, 3.7, "Communicator over mpirun\n(CMPI: Open MPI by dlopen)", "#e8daef"),
    "GlowGPU":             (3.1, 3.7, "BackendRegistry, KernelBackend/, OpenCL/,\nCUDA/, Run/, API/, SelfTest/ (COpenCL, CCUDA)", "#d6eaf8"),
    "GlowServe":           (6.2, 3.7, "HTTP routes, queue, page\n(FlyingFox)", "#fadbd8"),
    "GlowCPU":             (1.5, 2.4, "CPUBackend on OpenBLAS,\nthread pool (COpenBLAS)", "#d5f5e3"),
    "Kernels":             (4.7, 2.4, "kernels.cl, glow_ops.h,\ncuda_compat.h, embedded (C)", "#d6eaf8"),
    "GlowCore":            (3.1, 1.1, "Backend/  Model/  Training/  Files/  Data/\n(CLibPNG, CZlib)", "#fcf3cf"),
}
edges = [
    ("glow-gpu", "GlowGPU"), ("glow-gpu", "GlowMPI"), ("glow-gpu-serve", "GlowServe"), ("examples", "GlowGPU"),
    ("GlowServe", "GlowGPU"), ("GlowMPI", "GlowCore"), ("GlowGPU", "GlowCPU"), ("GlowGPU", "GlowCore"),
    ("GlowGPU", "Kernels"), ("GlowCPU", "GlowCore"),
]
W, H = 2.8, 0.8

fig, ax = plt.subplots(figsize=(11, 6.2))
for name, (x, y, what, colour) in boxes.items():
    ax.add_patch(FancyBboxPatch((x, y), W, H, boxstyle="round,pad=0.04", fc=colour, ec="#444"))
    ax.text(x + W / 2, y + H - 0.2, name, ha="center", va="center", fontsize=11, weight="bold")
    ax.text(x + W / 2, y + 0.3, what, ha="center", va="center", fontsize=8)
for a, b in edges:
    xa, ya = boxes[a][0] + W / 2, boxes[a][1]
    xb, yb = boxes[b][0] + W / 2, boxes[b][1] + H
    if boxes[a][1] == boxes[b][1]:   # same row: side to side
        xa, ya, xb, yb = boxes[a][0], boxes[a][1] + H / 2, boxes[b][0] + W, boxes[b][1] + H / 2
    ax.annotate("", xy=(xb, yb), xytext=(xa, ya), arrowprops=dict(arrowstyle="->", color="#555", lw=1.1))
ax.text(0.0, 0.65, "An arrow points from a module to one it imports; nothing imports upwards. GlowCore imports no "
        "GPU API and no MPI.\nA training step: glow-gpu train → TrainingRun (GlowGPU/Run) → Trainer (GlowCore/Training) → "
        "Glow's layers (GlowCore/Model)\n→ Backend operations → CPUBackend, or KernelBackend → a launch of kernels.cl on OpenCL "
        "or CUDA; one host wait per step.", fontsize=8.5, va="top")
ax.set_xlim(-0.2, 9.2)
ax.set_ylim(-0.3, 6.0)
ax.axis("off")
ax.set_title("glow-gpu: modules and what may import what", fontsize=13)
fig.tight_layout()
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "docs/architecture.png", dpi=110)
