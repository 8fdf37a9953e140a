"""A NumPy time-stepping simulation that checkpoints by forking (the BGSAVE shape in numeric
code: the child writes the state to a file while the parent keeps stepping).

The parent holds a ``--rows`` x ``--cols`` float64 temperature grid and ``--particles``
tracer particles (positions and velocities, float64), prints ``READY <pid>`` and waits
for a line on stdin (the recorder registers it meanwhile). Then it forks the checkpoint
child, which saves the grid and the particles with ``np.save`` to ``--dir`` and exits;
the parent prints ``FORK <ns>`` (CLOCK_MONOTONIC just before the fork) and ``WORKERS
<pid>`` and steps until the child has exited. One step, all in place:

1. ``--sources`` heat sources at random grid points (``np.add.at``: scattered writes);
2. the particles move (``pos += vel * dt``, wrapped): a sweep of the positions;
3. diffusion of the grid, ``--block`` rows at a time (a blocked in-place stencil, as such
   code bounds its temporaries; the row above a block is already updated, Gauss-Seidel
   order): an ascending sweep of the grid, which after the fork copies every page the
   sources have not copied already.

The parent prints ``RESULT <json>`` with the step times (guest clock) once the child has
exited.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def step(u: np.ndarray, pos: np.ndarray, vel: np.ndarray, rng: np.random.Generator,
         sources: int, block: int) -> None:
    rows, cols = u.shape
    np.add.at(u, (rng.integers(1, rows - 1, sources), rng.integers(1, cols - 1, sources)), 5.0)
    pos += vel * 0.01
    np.mod(pos, 1.0, out=pos)
    for r0 in range(1, rows - 1, block):
        r1 = min(r0 + block, rows - 1)
        lap = (u[r0 - 1:r1 - 1, 1:-1] + u[r0 + 1:r1 + 1, 1:-1] + u[r0:r1, :-2]
               + u[r0:r1, 2:] - 4.0 * u[r0:r1, 1:-1])
        u[r0:r1, 1:-1] += 0.2 * lap


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--particles", type=int, default=1 << 20)
    ap.add_argument("--sources", type=int, default=2000)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    u = np.full((a.rows, a.cols), 20.0)
    u[a.rows // 3:a.rows // 2, a.cols // 4:a.cols // 3] = 80.0
    pos = rng.random((a.particles, 2))
    vel = rng.standard_normal((a.particles, 2))
    for _ in range(2):  # warm up: the allocator's temporaries exist before the fork
        step(u, pos, vel, rng, a.sources, a.block)
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    t_fork = time.monotonic_ns()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            np.save(os.path.join(a.dir, "grid.npy"), u)
            np.save(os.path.join(a.dir, "particles.npy"), pos)
        except BaseException:  # noqa: BLE001 - the child reports by its status
            code = 1
        os._exit(code)
    print("FORK", t_fork, flush=True)
    print("WORKERS", pid, flush=True)
    times = []
    status = None
    while status is None:
        t0 = time.monotonic_ns()
        step(u, pos, vel, rng, a.sources, a.block)
        times.append(time.monotonic_ns() - t0)
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    t_end = time.monotonic_ns()
    print("RESULT", json.dumps({
        "grid_bytes": u.nbytes, "particle_bytes": pos.nbytes + vel.nbytes,
        "sources": a.sources, "block": a.block, "steps_during_checkpoint": len(times),
        "step_ns": times, "window_ns": t_end - t_fork, "mean_temperature": float(u.mean()),
        "numpy": np.__version__, "python": sys.version.split()[0],
        "failed_workers": int(status != 0)}), flush=True)
    return 1 if status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
