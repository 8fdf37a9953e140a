"""The kernel target: replay traces under policies inside a real Linux kernel with the module.

``run_kernel`` batches every (policy, trace) run into one guest boot (the
boot is the expensive part) and returns one :class:`~cowrl.metrics.RunRecord`
per run, in ``policies x traces`` order.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cowrl.errors import CowrlError
from cowrl.kernel.config import KernelConfig
from cowrl.kernel.jobs import DemandEvents, RunRequest, demand_events, parse_run, write_job
from cowrl.kernel.runners import make_runner
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.traces.io import Trace


@dataclass
class KernelSession:
    """Outcome of one guest session: records, check results and runner facts."""

    records: list[RunRecord]
    checks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    events: list[DemandEvents | None] = field(default_factory=list)
    """Per record: the module's demand-fault records in fault order (None without module)."""


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[kernel] {msg}", file=sys.stderr, flush=True)


def run_session(requests: list[RunRequest], cfg: KernelConfig | Mapping[str, Any] | None = None,
                checks: tuple[str, ...] = (), progress: bool = True) -> KernelSession:
    """Run ``requests`` (and the guest ``checks``: ``manual_cow``, ``table_ioctl``,
    ``rmmod``) in one boot."""
    kcfg = KernelConfig.from_any(cfg)
    if not requests and not checks:
        raise CowrlError("nothing to run on the kernel target")
    t0 = time.monotonic()
    runner = make_runner(kcfg)
    _log(progress, f"preparing {kcfg.runner} runner for kernel {runner.release}")
    paths = runner.prepare()
    jobs_root = kcfg.cache_path / "jobs"
    jobs_root.mkdir(parents=True, exist_ok=True)
    jobdir = jobs_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(requests) % 10**6}"
    jobdir.mkdir()
    specs = write_job(jobdir, requests, kcfg.writer,
                      {**paths, "root": str(Path(__file__).resolve().parents[2])}, checks)
    _log(progress, f"{len(specs)} run(s) in one session, job dir {jobdir}")
    info = runner.run(jobdir)
    guest = json.loads((jobdir / "guest.json").read_text())
    if guest.get("error"):
        raise CowrlError(f"the kernel job failed inside the guest: {guest['error'][-800:]}")
    info = {**info, "kernel_release": guest.get("kernel_release", ""),
            "clocksource": guest.get("clocksource", ""),
            "guest_wall_s": guest.get("wall_s"), "wall_s": time.monotonic() - t0}
    by_id = {r["id"]: r for r in guest.get("runs", [])}
    records, events = [], []
    for spec, req in zip(specs, requests, strict=True):
        run = by_id.get(spec.id, {"rc": -1, "stderr": "missing"})
        rinfo = {"runner": info["runner"], "accel": info["accel"],
                 "kernel_release": info["kernel_release"]}
        if run["rc"] != 0:
            rinfo["run_error"] = f"rc={run['rc']}: {run.get('stderr', '')[-500:]}"
        records.append(parse_run(jobdir, spec, req.trace, rinfo))
        events.append(demand_events(jobdir, spec))
    info["final_unload_errno"] = guest.get("final_unload_errno")
    _log(progress, f"done in {info['wall_s']:.1f} s ({info['runner']}, {info['accel']})")
    if not kcfg.keep_jobs:
        shutil.rmtree(jobdir, ignore_errors=True)
    return KernelSession(records=records, checks=guest.get("checks", {}), info=info,
                         events=events)


def run_kernel(traces: list[Trace], policies: list[Policy],
               cfg: KernelConfig | Mapping[str, Any] | None = None,
               progress: bool = True) -> list[RunRecord]:
    """Replay every trace under every policy on the kernel target, in one guest boot.

    Returns RunRecords with ``target="kernel"`` in ``policies x traces`` order.
    Raises :class:`~cowrl.errors.TargetUnavailable` when the runner cannot run
    here and :class:`~cowrl.errors.CowrlError` for a policy the module cannot run.
    """
    if not policies or not traces:
        raise CowrlError("run_kernel needs at least one policy and one trace")
    return run_pairs([(p, t) for p in policies for t in traces], cfg, progress)


def run_pairs(pairs: list[tuple[Policy, Trace]],
              cfg: KernelConfig | Mapping[str, Any] | None = None,
              progress: bool = True) -> list[RunRecord]:
    """Run each (policy, trace) pair in one guest boot; one RunRecord per pair, in order.

    With ``kernel.repeats > 1`` each repeat runs the pairs of a trace in an order
    rotated by the repeat number, and the run with the median ``cow_ns`` is kept;
    with ``kernel.warmup`` one discarded run comes first.
    """
    kcfg = KernelConfig.from_any(cfg)
    if not pairs:
        raise CowrlError("run_kernel needs at least one (policy, trace) run")
    # Rotate within each trace's group, so no policy always runs first on a trace.
    groups: dict[int, list[int]] = {}
    for idx, (_, t) in enumerate(pairs):
        groups.setdefault(id(t), []).append(idx)
    order = [g[(i + r) % len(g)] for r in range(kcfg.repeats) for g in groups.values()
             for i in range(len(g))]
    requests = [RunRequest(trace=pairs[i][1], policy=pairs[i][0], module=kcfg.module)
                for i in order]
    if kcfg.warmup:
        requests.insert(0, RunRequest(trace=pairs[0][1], policy=pairs[0][0],
                                      module=kcfg.module))
    records = run_session(requests, kcfg, progress=progress).records
    if kcfg.warmup:
        records = records[1:]
    runs: dict[int, list[RunRecord]] = {}
    for i, rec in zip(order, records, strict=True):
        runs.setdefault(i, []).append(rec)
    out = []
    for i in range(len(pairs)):
        reps = sorted(runs[i], key=lambda r: float(r.fault_ns.sum()))
        keep = reps[(len(reps) - 1) // 2]
        if len(reps) > 1:
            keep.extra["repeats_cow_ns"] = [float(r.fault_ns.sum()) for r in runs[i]]
        out.append(keep)
    return out
