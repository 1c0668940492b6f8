#!/usr/bin/env python3
"""Training images/s of the same Glow in PyTorch, for `glow-gpu bench` to be compared with
on the same cores in the same session (docs/benchmarks.md, issue 19).

Usage: torch-glow-bench.py [--config mnist|paper] [--batch N] [--steps S] [--threads T] [--json]

The model is docs/glow-spec.md's, written here for timing (not a port of any other code):
squeeze, K steps of ActNorm → invertible 1×1 convolution with LU → affine coupling
(Conv3×3 → ActNorm → ReLU → Conv1×1 → ActNorm → ReLU → Conv2dZeros, scale sigmoid(h + 2)),
split with a learned prior, a learned top prior; Adam on the bits per dimension of
dequantised random images. ActNorms start from the first batch. The FLOPs per image are
glow-gpu's (the same convolutions); PyTorch stores activations for backward as usual.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {"mnist": dict(c=1, size=28, K=16, L=2, hidden=256, batch=64),
           "paper": dict(c=3, size=32, K=32, L=3, hidden=512, batch=16)}


class ActNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.ready = False

    def forward(self, x):
        if not self.ready:
            with torch.no_grad():
                mean = x.mean(dim=(0, 2, 3), keepdim=True)
                std = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True).sqrt()
                self.b.copy_(-mean)
                self.logs.copy_(torch.log(1 / (std + 1e-6)))
            self.ready = True
        return (x + self.b) * torch.exp(self.logs), x.shape[2] * x.shape[3] * self.logs.sum()


class InvConvLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = torch.linalg.qr(torch.randn(c, c))[0]
        p, l, u = torch.linalg.lu(w)
        s = torch.diag(u)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(c, c), -1))
        self.register_buffer("eye", torch.eye(c))
        self.l = nn.Parameter(l)
        self.u = nn.Parameter(torch.triu(u, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def forward(self, x):
        lower = self.l * self.lower_mask + self.eye
        upper = self.u * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        w = self.p @ lower @ upper
        return F.conv2d(x, w[:, :, None, None]), x.shape[2] * x.shape[3] * self.log_s.sum()


class Conv2dZeros(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.logs = nn.Parameter(torch.zeros(1, cout, 1, 1))
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return self.conv(x) * torch.exp(3 * self.logs)


class Coupling(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(c // 2, hidden, 3, padding=1, bias=False)
        self.norm1 = ActNorm(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.norm2 = ActNorm(hidden)
        self.out = Conv2dZeros(hidden, c)
        for conv in (self.conv1, self.conv2):
            nn.init.normal_(conv.weight, std=0.05)

    def forward(self, x):
        c = x.shape[1]
        x1, x2 = x[:, : c // 2], x[:, c // 2:]
        h = F.relu(self.norm1(self.conv1(x1))[0])
        h = F.relu(self.norm2(self.conv2(h))[0])
        h = self.out(h)
        shift, scale = h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2)
        y2 = (x2 + shift) * scale
        return torch.cat([x1, y2], 1), torch.log(scale).flatten(1).sum(1)


def squeeze(x):
    n, c, h, w = x.shape
    x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * 4, h // 2, w // 2)


def log_normal(z, mean, logs):
    return (-0.5 * (math.log(2 * math.pi) + 2 * logs + (z - mean) ** 2 * torch.exp(-2 * logs))).flatten(1).sum(1)


class Glow(nn.Module):
    def __init__(self, c, size, K, L, hidden):
        super().__init__()
        self.levels, self.priors = nn.ModuleList(), nn.ModuleList()
        for i in range(L):
            c, size = c * 4, size // 2
            self.levels.append(nn.ModuleList(
                nn.ModuleList([ActNorm(c), InvConvLU(c), Coupling(c, hidden)]) for _ in range(K)))
            if i < L - 1:
                self.priors.append(Conv2dZeros(c // 2, c))
                c //= 2
        self.top = Conv2dZeros(2 * c, 2 * c)
        self.top_shape = (c, size)

    def forward(self, x):
        logdet = torch.zeros(x.shape[0])
        logp = torch.zeros(x.shape[0])
        for i, steps in enumerate(self.levels):
            x = squeeze(x)
            for norm, conv, coupling in steps:
                x, ld = norm(x)
                logdet = logdet + ld
                x, ld = conv(x)
                logdet = logdet + ld
                x, ld = coupling(x)
                logdet = logdet + ld
            if i < len(self.levels) - 1:
                c = x.shape[1]
                x, z = x[:, : c // 2], x[:, c // 2:]
                h = self.priors[i](x)
                logp = logp + log_normal(z, h[:, 0::2], h[:, 1::2])
        h = self.top(torch.zeros(x.shape[0], 2 * x.shape[1], x.shape[2], x.shape[3]))
        return logp + log_normal(x, h[:, 0::2], h[:, 1::2]) + logdet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="mnist", choices=CONFIGS)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = CONFIGS[a.config]
    n = a.batch or cfg["batch"]
    model = Glow(cfg["c"], cfg["size"], cfg["K"], cfg["L"], cfg["hidden"])
    pixels = torch.randint(0, 256, (n, cfg["c"], cfg["size"], cfg["size"])).float()
    d = cfg["c"] * cfg["size"] ** 2
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(s):
        # glow-gpu's warm-up (200 steps, linear): without it the first steps diverge.
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (s + 1) / 200)
        x = pixels / 256 - 0.5 + torch.rand_like(pixels) / 256
        objective = model(x) - d * math.log(256)
        loss = (-objective / (d * math.log(2))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    step(0)   # ActNorm initialisation and warm-up
    t = time.perf_counter()
    for s in range(a.steps):
        bpd = step(s + 1)
    seconds = time.perf_counter() - t
    ips = a.steps * n / seconds
    out = dict(config=a.config, batch=n, threads=torch.get_num_threads(), steps=a.steps, images_per_second=round(ips, 3),
               bpd=round(bpd, 4), torch=torch.__version__, parameters=sum(p.numel() for p in model.parameters()))
    print(json.dumps(out) if a.json else f"torch {torch.__version__}: {a.config} batch {n}, {out['threads']} threads: "
          f"{ips:.2f} training images/s (bpd {bpd:.3f}, {out['parameters']} parameters)")


if __name__ == "__main__":
    main()
