"""A pre-fork server in plain CPython whose workers share a warm dict and re-serialize it
periodically (the shape of a gunicorn --preload worker that serves counters and settings
from an in-memory state and exports it now and then: a status endpoint, a checkpoint).

The parent builds the warm state: a ``dict`` of ``--keys`` entries, a ``str`` key to a
``dict`` record (a count, a price, a list of two tags from a small set of tag strings, the
time of the last update), prints ``READY <pid>`` and waits for a line on stdin (the
recorder registers it meanwhile). Then it forks ``--workers`` workers, prints ``FORK <ns>``
(CLOCK_MONOTONIC just before the first fork) and ``WORKERS <pid>...``, and dispatches
``--requests`` requests round robin over pipes. Keys follow a Zipf law (exponent
``--zipf``) over a fixed random permutation of the keys, the same for every worker. A
worker answers in its own copy of the state:

- ``GET``: formats the record (reference counts of the record and its fields);
- ``HIT`` (``--hit-share``): ``count += 1`` and the update time, in place (new ints in the
  record's dict);
- ``SET`` (``--set-share``): a new price and update time.

Every ``--dump-every`` requests a worker serializes its whole state with ``json.dumps``
and writes it to its checkpoint file in ``--dir`` (a tmpfs; replaced each time). The
encoder takes every record's items (reference counts of every key, record and field), so
the first dump writes every page of the state the worker had not written yet. The parent
prints ``RESULT <json>`` with the request latencies (guest clock), each worker's dump count
and the last dump's size.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

TAGS = ["red", "green", "blue", "new", "sale", "eu", "us", "apac", "bulk", "gift", "b2b",
        "retail"]


def serve(state: dict[str, dict[str, Any]], rfd: int, wfd: int, dump_every: int,
          ckpt: Path) -> None:
    rf = os.fdopen(rfd, "rb", buffering=0)
    n = dumps = size = 0
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = rf.read(4096)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if line == b"quit":
            os.write(wfd, json.dumps([dumps, size]).encode() + b"\n")
            return
        op, key, arg = line.decode().split(" ")
        rec = state[key]
        now = time.monotonic_ns()
        if op == "H":
            rec["count"] += 1
            rec["updated"] = now
        elif op == "S":
            rec["price"] = float(arg)
            rec["updated"] = now
        out = f"{key} {rec['count']} {rec['price']:.2f} {','.join(rec['tags'])}"
        n += 1
        if n % dump_every == 0:
            text = json.dumps(state)
            tmp = ckpt.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, ckpt)
            dumps += 1
            size = len(text)
        os.write(wfd, out.encode() + b"\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=8000)
    ap.add_argument("--zipf", type=float, default=0.9)
    ap.add_argument("--hit-share", type=float, default=0.5)
    ap.add_argument("--set-share", type=float, default=0.1)
    ap.add_argument("--dump-every", type=int, default=500)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    state: dict[str, dict[str, Any]] = {}
    for i in range(a.keys):
        state[f"item:{i:08d}"] = {"count": rng.randrange(1000, 10**6),
                                  "price": round(rng.uniform(1, 500), 2),
                                  "tags": rng.sample(TAGS, 2), "updated": 0}
    keys = list(state)
    rng.shuffle(keys)
    w = [1.0 / (i + 1) ** a.zipf for i in range(a.keys)]
    total = sum(w)
    cdf, acc = [], 0.0
    for x in w:
        acc += x / total
        cdf.append(acc)
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    workers = []
    t_fork = time.monotonic_ns()
    for i in range(a.workers):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(resp_r)
            serve(state, req_r, resp_w, a.dump_every, Path(a.dir) / f"state-{i}.json")
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        workers.append((pid, req_w, os.fdopen(resp_r, "rb")))
    print("FORK", t_fork, flush=True)
    print("WORKERS", *[w[0] for w in workers], flush=True)
    lat = []
    for i in range(a.requests):
        pid, wfd, rf = workers[i % len(workers)]
        key = keys[min(bisect.bisect_left(cdf, rng.random()), a.keys - 1)]
        u = rng.random()
        op = "H" if u < a.hit_share else "S" if u < a.hit_share + a.set_share else "G"
        t0 = time.monotonic_ns()
        os.write(wfd, f"{op} {key} {rng.uniform(1, 500):.2f}\n".encode())
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
        "keys": a.keys, "workers": a.workers, "requests": a.requests, "zipf": a.zipf,
        "hit_share": a.hit_share, "set_share": a.set_share, "dump_every": a.dump_every,
        "worker_dumps_last_size": counts, "request_p50_ns": lat[len(lat) // 2],
        "request_p99_ns": lat[int(len(lat) * 0.99)], "request_max_ns": lat[-1],
        "serve_ns": t_end - t_fork, "python": sys.version.split()[0],
        "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
