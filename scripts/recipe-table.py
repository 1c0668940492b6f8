#!/usr/bin/env python3
"""The table and curves of docs/training.md from training runs' metrics.jsonl files.

Usage: recipe-table.py [--png OUT.png] [--title T] [--warmup N] [--until S] [--recover] RUN_DIR[=LABEL] ...

Per run: the test bpd of its first evaluation at or after step 300 (a periodic one, when the
run had them) and of its last, the train bpd at the end (mean of the last 20 steps), the
largest rise (how far the 20-step mean train bpd climbed above its lowest value so far)
after step 50 and after the warm-up (--warmup, default 200 steps: issue 17's measure), each
with its step, and the steps clipped and skipped. With --png, the 20-step mean train bpd of
every run against the step (needs matplotlib). --until S compares runs over their first S
steps only (a longer run then reads as it stood at step S). --recover adds a column: the step at
which `--recover`'s policy (Recovery.swift's defaults), replayed on the run's train bpd, would
first roll back, and its longest stretch of bad steps; up to that step a run with `--recover`
is the same run bit for bit (RecoveryTests), so the replay is exact there."""
import json
import sys


def load(path):
    rows = []
    with open(path + "/metrics.jsonl") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def rolling(values, n=20):
    out, s = [], 0.0
    for i, v in enumerate(values):
        s += v
        if i >= n:
            s -= values[i - n]
        out.append(s / min(i + 1, n))
    return out


def largest_rise(mean, after):
    """(rise, step): the largest climb of `mean` above its lowest value so far, at steps
    past `after` (the lowest value counts every step before)."""
    best, low = (0.0, None), float("inf")
    for i, m in enumerate(mean):
        low = min(low, m)
        if i >= after and m - low > best[0]:
            best = (m - low, i + 1)
    return best


def recover_replay(rows, window=20, rise=0.5, patience=20, every=10):
    """(step of the first rollback or None, longest stretch of bad steps): Recovery.observe
    on each step's train bpd (a missing one is not finite) with no rollback yet."""
    recent, best, bad, longest, copy = [], float("inf"), 0, 0, None
    for r in rows:
        step, b = r["step"], r.get("train_bpd")
        if b is not None and b == b and abs(b) != float("inf"):
            recent = (recent + [b])[-window:]
        if len(recent) < window:
            continue
        mean = sum(recent) / window
        best = min(best, mean)
        bad = bad + 1 if mean > best + rise else 0
        longest = max(longest, bad)
        if bad >= patience and copy is not None:
            return step, longest
        if step % every == 0 and mean <= best + rise / 2:
            copy = step
    return None, longest


def summary(rows, warmup=200):
    bpd = [r["train_bpd"] for r in rows if r.get("train_bpd") is not None]
    mean = rolling(bpd)
    tests = [(r["step"], r["test_bpd"]) for r in rows if r.get("test_bpd") is not None]
    at300 = [t for step, t in tests if step >= 300]
    return {
        "steps": len(rows),
        "test": tests[-1][1] if tests else None,
        "test300": at300[0] if at300 and len(tests) > 1 else None,
        "train": mean[-1] if mean else None,
        "rise": largest_rise(mean, 50),
        "rise_warm": largest_rise(mean, warmup),
        "clipped": sum(1 for r in rows if r.get("clipped")),
        "skipped": sum(1 for r in rows if r.get("skipped")),
        "curve": mean,
        "recover": recover_replay(rows),
    }


def main():
    args, dirs = sys.argv[1:], []
    png, title, warmup, until, recover = None, "", 200, None, False
    while args:
        if not args[0].startswith("--"):
            dirs, args = dirs + [args[0]], args[1:]
            continue
        if args[0] == "--png":
            png, args = args[1], args[2:]
        elif args[0] == "--warmup":
            warmup, args = int(args[1]), args[2:]
        elif args[0] == "--until":
            until, args = int(args[1]), args[2:]
        elif args[0] == "--recover":
            recover, args = True, args[1:]
        elif args[0] == "--title":
            title, args = args[1], args[2:]
        else:
            sys.exit(f"unknown option {args[0]}")
    runs = []
    for a in dirs:
        path, _, label = a.partition("=")
        rows = [r for r in load(path) if until is None or r.get("step", 0) <= until]
        runs.append((label or path.rstrip("/").split("/")[-1], summary(rows, warmup)))
    print("| setting | steps | test bpd at 300 | test bpd at the end | train bpd (last 20) | largest rise after step 50 "
          f"| after warm-up ({warmup}) | clipped | skipped |" + (" --recover would roll back |" if recover else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if recover else ""))
    fmt = lambda v: f"{v:.3f}" if v is not None else "—"
    at = lambda r: f"{r[0]:.2f} (step {r[1]})" if r[1] is not None else "none"
    replay = lambda r: (f"at step {r[0]}" if r[0] is not None else f"never (longest bad stretch {r[1]})")
    for label, s in runs:
        rise, warm = s["rise"], s["rise_warm"]
        print(f"| {label} | {s['steps']} | {fmt(s['test300'])} | {fmt(s['test'])} | {s['train']:.3f} "
              f"| {at(rise)} | {at(warm)} | {s['clipped']} | {s['skipped']} |"
              + (f" {replay(s['recover'])} |" if recover else ""))
    if png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        for label, s in runs:
            ax.plot(range(1, len(s["curve"]) + 1), s["curve"], label=label, linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel("train bpd (mean of 20 steps)")
        lows = [min(s["curve"]) for _, s in runs if s["curve"]]
        if lows:
            ax.set_ylim(min(lows) - 0.2, min(lows) + 3.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(png)


if __name__ == "__main__":
    main()
