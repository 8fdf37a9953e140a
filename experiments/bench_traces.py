"""Large recorded-style traces: file size, load time and memory, and evaluation time.

Builds a multi-region trace of ``--writes`` writes (default 10^7) shaped like a
recording: ``--regions`` regions of ``--region-pages`` pages, writes drawn with
a hot set (Zipf over pages) so most writes hit pages already copied, ``t_ns``
increasing, one writer. Prints one table: save time and file size, load time
and peak memory (``load_trace``, full and ``times=False``), ``iter_pages``
streaming time and peak memory, and, with ``--eval sim|kernel`` (repeatable),
the wall time of ``eval.py`` with baseline and precopy on it.

    python experiments/bench_traces.py                     # 10^7 writes: load and memory
    python experiments/bench_traces.py --eval sim --eval kernel
    python experiments/bench_traces.py --writes 100000     # a few seconds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cowrl.traces.io import Trace, save_trace

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time, tracemalloc
from cowrl.traces.io import iter_pages, load_trace
mode, path = sys.argv[1], sys.argv[2]
tracemalloc.start()  # numpy reports its array buffers to tracemalloc
t0 = time.perf_counter()
if mode == "iter":
    n = sum(int(c.size) for c in iter_pages(path, chunk=1 << 20))
else:
    n = load_trace(path, times=(mode == "full")).writes
dt = time.perf_counter() - t0
print(json.dumps({"writes": n, "s": dt, "peak_mib": tracemalloc.get_traced_memory()[1] / 2**20}))
"""


def make_trace(writes: int, regions: int, region_pages: int, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    n_pages = regions * region_pages
    ranks = np.minimum(rng.zipf(1.2, writes) - 1, n_pages - 1)
    perm = rng.permutation(n_pages)
    pages = perm[ranks]
    t_ns = np.cumsum(rng.integers(50, 5000, writes))
    starts = (np.arange(regions, dtype=np.uint64) * np.uint64(2 * region_pages * 4096)
              + np.uint64(0x7F00_0000_0000))
    return Trace(pages=pages, n_pages=n_pages, name=f"big{writes}",
                 meta={"generator": "bench_traces", "seed": seed},
                 region_sizes=np.full(regions, region_pages), t_ns=t_ns,
                 writer=np.zeros(writes, dtype=np.int32), region_starts=starts,
                 region_writers=np.zeros(regions, dtype=np.int32))


def probe(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=10_000_000)
    ap.add_argument("--regions", type=int, default=64)
    ap.add_argument("--region-pages", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", action="append", default=[], choices=["sim", "kernel"])
    ap.add_argument("--keep", default=None, help="write the trace here instead of a temp dir")
    a = ap.parse_args()
    if min(a.writes, a.regions, a.region_pages) <= 0:
        ap.error("--writes, --regions and --region-pages must be positive")
    with tempfile.TemporaryDirectory() as td:
        path = Path(a.keep) if a.keep else Path(td) / f"big{a.writes}.npz"
        trace = make_trace(a.writes, a.regions, a.region_pages, a.seed)
        t0 = time.perf_counter()
        save_trace(trace, path)
        save_s = time.perf_counter() - t0
        distinct = int(np.unique(trace.pages).size)
        del trace
        rows = [("writes", f"{a.writes:,}"), ("regions x pages", f"{a.regions} x {a.region_pages}"),
                ("distinct pages (k=0 faults)", f"{distinct:,}"),
                ("save", f"{save_s:.2f} s, {path.stat().st_size / 2**20:.1f} MiB "
                         f"({path.stat().st_size / a.writes:.2f} B/write)")]
        for mode, label in (("full", "load_trace"), ("light", "load_trace(times=False)"),
                            ("iter", "iter_pages (1 Mi chunks)")):
            r = probe(mode, path)
            rows.append((label, f"{r['s']:.2f} s, peak +{r['peak_mib']:.0f} MiB"))
        for target in a.eval:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "eval.py"), f"target={target}",
                            "policies=[baseline,precopy]", f"traces=[{path}]", "workloads=[]",
                            "plots=false", "report=false", f"out={Path(td) / target}",
                            "progress=false",
                            # the region is filled in the guest: room for it and its copies
                            *(["kernel.memory_mb=3072", "kernel.warmup=false"]
                              if target == "kernel" else [])],
                           check=True, cwd=ROOT, capture_output=True)
            res = json.loads((Path(td) / target / "results.json").read_text())
            faults = {r["policy"]: r["faults"] for r in res["rows"]}
            rows.append((f"eval.py target={target} (baseline, precopy)",
                         f"{time.perf_counter() - t0:.0f} s; faults {faults}"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
