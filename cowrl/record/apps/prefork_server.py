"""A pre-fork server in plain CPython (the shape of gunicorn --preload or multiprocessing).

The parent builds an in-memory table of ``--rows`` rows (about four objects
each: a dict, a str, a list and an int), prints ``READY <pid>`` and waits for a
line on stdin (the recorder registers it meanwhile). Then, optionally after
``gc.freeze()``, it forks ``--workers`` workers and prints ``FORK <ns>``
(CLOCK_MONOTONIC just before the first fork) and ``WORKERS <pid>...``. It
dispatches ``--requests`` requests round robin over pipes; a worker answers
each by reading ``--scan`` random rows (reference counting writes every object
it touches, which is what breaks COW) and building a small response. Each
worker runs one full ``gc.collect()`` at request ``--collect-at`` (0: never),
as a long-running worker eventually does once enough new objects survive;
without ``gc.freeze()`` that collection writes the GC header of every object
it traverses. The parent prints ``RESULT <json>`` with the request latencies.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time


def build(rows: int) -> list[dict]:
    return [{"id": i + 1000, "name": f"user{i:08d}", "tags": [i % 7, i % 11, i % 13]}
            for i in range(rows)]


def serve(table: list[dict], rfd: int, wfd: int, scan: int, collect_at: int, seed: int) -> None:
    rng = random.Random(seed)
    rf = os.fdopen(rfd, "rb", buffering=0)
    n = 0
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = rf.read(4096)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if line == b"quit":
            return
        key = int(line)
        n += 1
        if n == collect_at:
            gc.collect()
        row = table[key]
        total = sum(row["tags"])
        names = [table[rng.randrange(len(table))]["name"] for _ in range(scan)]
        resp = f"{row['name']}:{total}:{len(''.join(names))}\n".encode()
        os.write(wfd, resp)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--scan", type=int, default=64)
    ap.add_argument("--collect-at", type=int, default=0)
    ap.add_argument("--freeze", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    blocks0 = sys.getallocatedblocks()
    table = build(a.rows)
    blocks = sys.getallocatedblocks() - blocks0
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    if a.freeze:
        gc.freeze()
    workers = []
    t_fork = time.monotonic_ns()
    for w in range(a.workers):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(resp_r)
            serve(table, req_r, resp_w, a.scan, a.collect_at, a.seed + w + 1)
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        workers.append((pid, req_w, os.fdopen(resp_r, "rb")))
    print("FORK", t_fork, flush=True)
    print("WORKERS", *[w[0] for w in workers], flush=True)
    rng = random.Random(a.seed)
    lat = []
    for i in range(a.requests):
        pid, wfd, rf = workers[i % len(workers)]
        t0 = time.monotonic_ns()
        os.write(wfd, b"%d\n" % rng.randrange(len(table)))
        if not rf.readline():
            print(f"worker {pid} died", file=sys.stderr)
            return 4
        lat.append(time.monotonic_ns() - t0)
    for _, wfd, _ in workers:
        os.write(wfd, b"quit\n")
    bad = 0
    for pid, _, _ in workers:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    t_end = time.monotonic_ns()
    lat.sort()
    print("RESULT", json.dumps({
        "rows": a.rows, "allocated_blocks": blocks, "workers": a.workers,
        "requests": a.requests, "scan": a.scan, "collect_at": a.collect_at,
        "gc_freeze": bool(a.freeze), "frozen_objects": gc.get_freeze_count(),
        "request_p50_ns": lat[len(lat) // 2], "request_p99_ns": lat[int(len(lat) * 0.99)],
        "request_max_ns": lat[-1], "serve_ns": t_end - t_fork, "python": sys.version.split()[0],
        "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
