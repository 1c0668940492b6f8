#!/usr/bin/env python3
"""Latency of glow-gpu serve's sample route, measured from a client (the standard library only).

    serve-bench.py --url http://127.0.0.1:PORT/ [--requests 50] [--count 16] [--warmup 3]

Sends --warmup requests, then --requests POST /api/sample requests one after another on one
keep-alive connection (count images at T = 0.7, a new seed each), and prints the median, p95 and
worst latency and the server-side model time. Exit status 1 when a request fails.
"""
import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    latencies, model = [], []
    for i in range(args.warmup + args.requests):
        body = json.dumps({"temperature": 0.7, "seed": i, "count": args.count})
        t0 = time.perf_counter()
        conn.request("POST", "/api/sample", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            print(f"serve-bench: request {i}: HTTP {r.status}: {data[:200]!r}", file=sys.stderr)
            sys.exit(1)
        if i >= args.warmup:
            latencies.append(dt * 1000)
            model.append(json.loads(data)["seconds"] * 1000)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * len(latencies))) - 1)]
    print(f"serve-bench: {args.requests} requests of {args.count} images: median {statistics.median(latencies):.1f} ms, "
          f"p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms (model call: median {statistics.median(model):.1f} ms)")


if __name__ == "__main__":
    main()
