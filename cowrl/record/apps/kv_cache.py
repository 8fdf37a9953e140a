"""A pre-fork key-value cache in plain CPython (the shape of a preloaded memcached-like
worker pool: each worker serves GETs and SETs from its own copy of a warm LRU cache).

The parent fills an LRU cache (``collections.OrderedDict``, C implementation) with
``--keys`` entries, a ``str`` key to a ``bytearray`` value of ``--value-size`` bytes,
prints ``READY <pid>`` and waits for a line on stdin (the recorder registers it
meanwhile). Then it forks ``--workers`` workers and prints ``FORK <ns>``
(CLOCK_MONOTONIC just before the first fork) and ``WORKERS <pid>...``, and dispatches
``--requests`` requests round robin over pipes. Keys are drawn from a Zipf law (exponent
``--zipf``) over a fixed random permutation of the keys, the same for every worker, so
hot entries lie anywhere in the heap. A request is a GET with probability 1 -
``--set-share``, else a SET; a worker answers in place, in its own copy of the cache:

- GET of a cached key: ``move_to_end`` (the LRU's relinking writes the entry's list node
  and its old neighbours'), reference counts of key and value, and a checksum of the value;
- SET of a cached key: the value is overwritten in place (``value[:] = ...``, the same
  size: the bytearray's buffer is written), then moved to the end;
- a key not cached (the ``--miss-share`` of requests name a key past the preloaded ones):
  the least recently used entry is evicted (``popitem(last=False)``) and the new entry
  inserted at the end, a fresh bytearray (allocation churn in the freed slots).

Each worker counts hits and misses; the parent prints ``RESULT <json>`` with the request
latencies (guest clock) and the workers' hit and miss counts.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import sys
import time
from collections import OrderedDict


def zipf_cdf(n: int, s: float) -> list[float]:
    w = [1.0 / (i + 1) ** s for i in range(n)]
    total = sum(w)
    acc = 0.0
    out = []
    for x in w:
        acc += x / total
        out.append(acc)
    return out


def serve(cache: OrderedDict, rfd: int, wfd: int, value_size: int, seed: int) -> None:
    rng = random.Random(seed)
    rf = os.fdopen(rfd, "rb", buffering=0)
    hits = misses = sets = 0
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = rf.read(4096)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if line == b"quit":
            os.write(wfd, json.dumps([hits, misses, sets]).encode() + b"\n")
            return
        op, key = line.decode().split(" ", 1)
        val = cache.get(key)
        if val is None:
            misses += 1
            cache.popitem(last=False)
            val = bytearray(rng.randbytes(value_size))
            cache[key] = val
        else:
            hits += 1
            if op == "S":
                sets += 1
                val[:] = rng.randbytes(value_size)
            cache.move_to_end(key)
        os.write(wfd, b"%d\n" % (sum(val[:16]) + len(val)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=8000)
    ap.add_argument("--zipf", type=float, default=0.9)
    ap.add_argument("--set-share", type=float, default=0.1)
    ap.add_argument("--miss-share", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cache: OrderedDict[str, bytearray] = OrderedDict()
    for i in range(a.keys):
        cache[f"key:{i:010d}"] = bytearray(rng.randbytes(a.value_size))
    perm = list(range(a.keys))
    rng.shuffle(perm)
    cdf = zipf_cdf(a.keys, a.zipf)
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    workers = []
    t_fork = time.monotonic_ns()
    for w in range(a.workers):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(resp_r)
            serve(cache, req_r, resp_w, a.value_size, a.seed + w + 1)
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        workers.append((pid, req_w, os.fdopen(resp_r, "rb")))
    print("FORK", t_fork, flush=True)
    print("WORKERS", *[w[0] for w in workers], flush=True)
    fresh = a.keys
    lat = []
    for i in range(a.requests):
        pid, wfd, rf = workers[i % len(workers)]
        if rng.random() < a.miss_share:
            key = f"key:{fresh:010d}"
            fresh += 1
        else:
            key = f"key:{perm[min(bisect.bisect_left(cdf, rng.random()), a.keys - 1)]:010d}"
        op = "S" if rng.random() < a.set_share else "G"
        t0 = time.monotonic_ns()
        os.write(wfd, f"{op} {key}\n".encode())
        if not rf.readline():
            print(f"worker {pid} died", file=sys.stderr)
            return 4
        lat.append(time.monotonic_ns() - t0)
    counts = []
    for _, wfd, rf in workers:
        os.write(wfd, b"quit\n")
        counts.append(json.loads(rf.readline()))
    bad = 0
    for pid, _, _ in workers:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    t_end = time.monotonic_ns()
    lat.sort()
    print("RESULT", json.dumps({
        "keys": a.keys, "value_size": a.value_size, "workers": a.workers,
        "requests": a.requests, "zipf": a.zipf, "set_share": a.set_share,
        "miss_share": a.miss_share, "worker_hits_misses_sets": counts,
        "request_p50_ns": lat[len(lat) // 2], "request_p99_ns": lat[int(len(lat) * 0.99)],
        "request_max_ns": lat[-1], "serve_ns": t_end - t_fork,
        "python": sys.version.split()[0], "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
