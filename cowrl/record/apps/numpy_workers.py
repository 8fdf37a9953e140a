"""Fork workers over NumPy arrays built by the parent (the shape of multiprocessing's fork
start method, or of a job that forks one worker per core after loading its data).

The parent builds a ``--rows`` x ``--cols`` float64 matrix of samples, a vector of
``--keys`` float64 sort keys and an int64 histogram of ``--bins`` bins, prints
``READY <pid>`` and waits for a line on stdin (the recorder registers it meanwhile).
Then it forks ``--workers`` workers and prints ``FORK <ns>`` (CLOCK_MONOTONIC just before
the first fork) and ``WORKERS <pid>...``. Worker ``i`` owns row block ``i`` of the
matrix and slice ``i`` of the keys, and works on them in place, as such code does to
avoid a copy of its share:

1. standardizes its block column-wise (``blk -= mean; blk /= std``): two sweeps, the
   first of which copies every page of the block, in address order;
2. sorts its slice of the keys in place (``ndarray.sort``, NumPy's introsort): the
   partition passes write from both ends of the slice at once;
3. counts ``--samples`` random draws into the shared histogram (``np.add.at``): scattered
   single-page writes.

Each worker sends a checksum of its results over a pipe; the parent prints
``RESULT <json>`` with the workers' phase times (guest clock) once all have exited.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def work(i: int, n: int, mat: np.ndarray, keys: np.ndarray, hist: np.ndarray,
         samples: int, seed: int, wfd: int) -> None:
    rows = mat.shape[0] // n
    klen = keys.size // n
    t0 = time.monotonic_ns()
    blk = mat[i * rows:(i + 1) * rows]
    blk -= blk.mean(axis=0)
    blk /= blk.std(axis=0)
    t1 = time.monotonic_ns()
    part = keys[i * klen:(i + 1) * klen]
    part.sort()
    t2 = time.monotonic_ns()
    rng = np.random.default_rng(seed)
    idx = rng.zipf(1.3, samples) % hist.size
    np.add.at(hist, idx, 1)
    t3 = time.monotonic_ns()
    out = {"standardize_ns": t1 - t0, "sort_ns": t2 - t1, "histogram_ns": t3 - t2,
           "check": float(blk[:, :4].sum() + part[::4096].sum() + hist.sum())}
    os.write(wfd, (json.dumps(out) + "\n").encode())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--keys", type=int, default=4 * 2**20)
    ap.add_argument("--bins", type=int, default=2**20)
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    mat = rng.standard_normal((a.rows, a.cols)) * 3.0 + 1.0
    keys = rng.random(a.keys)
    hist = np.zeros(a.bins, dtype=np.int64)
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    workers = []
    t_fork = time.monotonic_ns()
    for w in range(a.workers):
        r, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                work(w, a.workers, mat, keys, hist, a.samples, a.seed + w + 1, wr)
            except BaseException:  # noqa: BLE001 - a worker reports by its status
                code = 1
            os._exit(code)
        os.close(wr)
        workers.append((pid, os.fdopen(r, "rb")))
    print("FORK", t_fork, flush=True)
    print("WORKERS", *[w[0] for w in workers], flush=True)
    results = []
    bad = 0
    for pid, rf in workers:
        line = rf.readline()
        results.append(json.loads(line) if line else None)
        _, status = os.waitpid(pid, 0)
        bad += status != 0 or not line
    t_end = time.monotonic_ns()
    ok = [r for r in results if r]
    print("RESULT", json.dumps({
        "matrix_bytes": mat.nbytes, "keys_bytes": keys.nbytes, "hist_bytes": hist.nbytes,
        "workers": a.workers, "samples": a.samples,
        "standardize_ns": [r["standardize_ns"] for r in ok],
        "sort_ns": [r["sort_ns"] for r in ok], "histogram_ns": [r["histogram_ns"] for r in ok],
        "window_ns": t_end - t_fork, "numpy": np.__version__,
        "python": sys.version.split()[0], "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
