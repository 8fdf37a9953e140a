"""One guest session of the kernel target, and running a list of runs with repeats.

:func:`run_session` serialises the runs into a job directory, boots the guest
(or uses the host) once for all of them (the boot is the expensive part),
shows a progress bar over the guest's runs and parses one
:class:`~cowrl.metrics.RunRecord` per run. :func:`run_repeated` adds the
repetitions, the warm-up run and the median of the repetitions; it is what
:class:`cowrl.targets.kernel.KernelTarget` and the test target run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import ConfigError, CowrlError, TargetUnavailable
from cowrl.kernel.config import KernelConfig
from cowrl.kernel.jobs import DemandEvents, RunRequest, demand_events, parse_run, write_job
from cowrl.kernel.runners import HostRunner, QemuRunner, make_runner
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.traces.io import PAGE_SIZE, Trace


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


class GuestProgress:
    """A progress bar with an ETA over the runs of one guest session.

    The guest (``guest.py``) runs the job's runs one after the other: it creates
    ``runs/<id>/`` on the shared job directory as it starts each, prints
    ``cowrl-guest: run <id>`` as it finishes each (the qemu guest's output goes
    to ``guest.log`` on the writable 9p share as it is printed) and writes
    ``guest.json`` at the end. A thread polls the directory: finished runs are
    the lines of ``guest.log`` when it is there, else the run directories but
    the newest (the host runner writes its log at the end). The bar counts
    writes replayed, so that the ETA weighs long traces as they are; it starts
    with the first run, after the boot.
    """

    POLL_S = 0.5
    DONE_LINE = "cowrl-guest: run "

    def __init__(self, jobdir: Path, writes: Sequence[int], enabled: bool = True) -> None:
        self.jobdir = jobdir
        self.done_writes = np.concatenate([[0], np.cumsum(np.asarray(writes, dtype=np.int64))])
        self.n = len(writes)
        self.enabled = enabled and self.n > 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    def done(self) -> tuple[bool, int]:
        """(the first run has started, runs finished) as the job directory shows them now."""
        if (self.jobdir / "guest.json").is_file():
            return True, self.n
        try:
            started = sum(1 for e in os.scandir(self.jobdir / "runs") if e.is_dir())
        except FileNotFoundError:
            started = 0
        try:
            log = (self.jobdir / "guest.log").read_text(errors="replace")
            finished = log.count(self.DONE_LINE)
        except OSError:
            finished = max(0, started - 1)
        return started > 0 or finished > 0, min(finished, self.n)

    def _update(self) -> None:
        started, finished = self.done()
        if not started:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=int(self.done_writes[-1]), unit="write", unit_scale=True,
                             file=sys.stderr, dynamic_ncols=True, smoothing=0.1,
                             desc=f"[kernel] run 1/{self.n}")
        self._bar.set_description(f"[kernel] run {min(finished + 1, self.n)}/{self.n}",
                                  refresh=False)
        self._bar.n = int(self.done_writes[finished])
        self._bar.refresh()

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_S):
            self._update()

    def __enter__(self) -> GuestProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._poll, name="guest-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._update()
        if self._bar is not None:
            self._bar.close()


def new_job(kcfg: KernelConfig, label: str, progress: bool = True
            ) -> tuple[QemuRunner | HostRunner, dict[str, str], Path]:
    """``kcfg``'s runner, prepared (module, harness, kernel built or cached), and a fresh
    job directory ``<cache>/jobs/<label>-<time>-*`` for it."""
    from cowrl.cli import output_dir

    output_dir(kcfg.cache_path, "kernel.cache_dir")  # a file there was a NotADirectoryError
    runner = make_runner(kcfg)
    _log(progress, f"preparing {kcfg.runner} runner for kernel {runner.release}")
    paths = runner.prepare()
    jobs_root = kcfg.cache_path / "jobs"
    jobs_root.mkdir(parents=True, exist_ok=True)
    jobdir = Path(tempfile.mkdtemp(prefix=f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-",
                                   dir=jobs_root))
    return runner, paths, jobdir


GUEST_BASE_MIB = 128
"""Guest memory the qemu guest itself takes (its kernel, the initramfs, /init, guest.py with
the module loaded), beyond :data:`GUEST_PART` of ``memory_mb``. Measured as ``memory_mb`` -
MemAvailable at the start of a harness run (6.1.0-57-amd64 under TCG, 2026-12-03): 101 MiB
at memory_mb=256, 157 MiB at 2048, i.e. about 94 MiB + 3.1 % of memory_mb. The rule takes
128 MiB + 1/16 of memory_mb, 43 MiB (at 256) to 99 MiB (at 2048) more than that: a
conservative margin for the free-page watermarks the OOM killer keeps and another release."""
GUEST_PART = 16
"""The part of ``memory_mb`` the guest's own footprint grows by: 1/16 (its page structs
alone are 1/64)."""


def guest_memory_needed_mb(trace: Trace) -> int:
    """The smallest ``kernel.memory_mb`` in which the qemu guest can replay ``trace``.

    After the fork the writer gets a private copy of each page it writes or the module
    precopies, at most one per page, while the holder keeps the snapshot: at most twice the
    region. Besides: their page tables (8 bytes per page in each process), the harness's
    arrays (the page of each write and its latency, 8 bytes each, and a byte per page) and
    the guest's own footprint (:data:`GUEST_BASE_MIB` + ``memory_mb / GUEST_PART``)::

        need = 2 * region + region / 256 + (16 * writes + n_pages) bytes + 128 MiB
        memory_mb >= need * 16 / 15
    """
    mib = 1 << 20
    region = trace.n_pages * PAGE_SIZE
    need = (2 * region + region // 256 + 16 * trace.writes + trace.n_pages) / mib
    return math.ceil((need + GUEST_BASE_MIB) * GUEST_PART / (GUEST_PART - 1))


def host_memory_mb() -> int:
    """This machine's memory (MemTotal, MiB); a large number when /proc/meminfo is unreadable."""
    from cowrl.kernel.guest import meminfo_kb  # the guest's reader (standard library only)

    kb = meminfo_kb("MemTotal")
    return kb // 1024 if kb >= 0 else 1 << 40


def check_guest_memory(kcfg: KernelConfig, traces: Sequence[Trace]) -> None:
    """Before a boot: a trace the qemu guest's memory cannot replay (its region filled, then
    copied by the writer: :func:`guest_memory_needed_mb`) is a ConfigError, not a harness
    killed by the guest's OOM killer after the boot; one this host's memory cannot hold
    (whatever kernel.memory_mb says: qemu takes the guest's pages as the guest touches them)
    is TargetUnavailable, not a host swapping or OOM-killing."""
    if kcfg.runner != "qemu" or not traces:
        return
    big = max(traces, key=guest_memory_needed_mb)
    need, host = guest_memory_needed_mb(big), host_memory_mb()
    if need <= min(kcfg.memory_mb, host):
        return
    where = f"trace file {big.meta['source']}" if "source" in big.meta else f"trace {big.name}"
    head = (f"{where}: its {big.n_pages} pages ({big.n_pages * PAGE_SIZE / (1 << 20):.0f} MiB, "
            f"copied after the fork: twice that) need kernel.memory_mb >= {need} in the guest")
    if need > host:
        raise TargetUnavailable(f"{head}, more than this host's memory ({host} MiB); replay "
                                "it on a larger machine")
    raise ConfigError(f"{head}, got kernel.memory_mb={kcfg.memory_mb}; raise kernel.memory_mb")


def run_session(requests: list[RunRequest], cfg: KernelConfig | Mapping[str, Any] | None = None,
                checks: tuple[str, ...] = (), progress: bool = True) -> KernelSession:
    """Run ``requests`` (and the guest ``checks``: ``manual_cow``, ``table_ioctl``,
    ``rmmod``) in one boot."""
    kcfg = KernelConfig.from_any(cfg)
    if not requests and not checks:
        raise CowrlError("nothing to run on the kernel target")
    check_guest_memory(kcfg, [r.trace for r in requests])
    t0 = time.monotonic()
    runner, paths, jobdir = new_job(kcfg, "eval", progress)
    specs = write_job(jobdir, requests, kcfg.writer,
                      {**paths, "root": str(Path(__file__).resolve().parents[2])}, checks)
    _log(progress, f"{len(specs)} run(s) in one session, job dir {jobdir}; booting")
    with GuestProgress(jobdir, [r.trace.writes for r in requests], enabled=progress):
        info = runner.run(jobdir)
    guest = json.loads((jobdir / "guest.json").read_text())
    if guest.get("error"):
        raise CowrlError(f"the kernel job failed inside the guest: {guest['error'][-800:]}")
    info = {**info, "kernel_release": guest.get("kernel_release", ""),
            "clocksource": guest.get("clocksource", ""), "pcp_high": guest.get("pcp_high"),
            "guest_wall_s": guest.get("wall_s"), "wall_s": time.monotonic() - t0}
    by_id = {r["id"]: r for r in guest.get("runs", [])}
    records, events = [], []
    for spec, req in zip(specs, requests, strict=True):
        run = by_id.get(spec.id, {"rc": -1, "stderr": "missing"})
        rinfo = {"runner": info["runner"], "accel": info["accel"],
                 "kernel_release": info["kernel_release"],
                 "pcp_count_at_start": run.get("pcp_count_at_start", -1),
                 "pcp_high_at_start": run.get("pcp_high_at_start", -1)}
        if run["rc"] != 0:
            rinfo["run_error"] = f"rc={run['rc']}: {run.get('stderr', '')[-500:]}"
        records.append(parse_run(jobdir, spec, req.trace, rinfo))
        events.append(demand_events(jobdir, spec))
    info["final_unload_errno"] = guest.get("final_unload_errno")
    # MemAvailable in the guest as each run started (-1 unknown): see GUEST_BASE_MIB
    info["mem_available_kb"] = [by_id.get(s.id, {}).get("mem_available_kb", -1) for s in specs]
    _log(progress, f"done in {info['wall_s']:.1f} s ({info['runner']}, {info['accel']})")
    if not kcfg.keep_jobs:
        shutil.rmtree(jobdir, ignore_errors=True)
    return KernelSession(records=records, checks=guest.get("checks", {}), info=info,
                         events=events)




Pair = tuple[Policy, Trace]


def median_of_repeats(reps: Sequence[RunRecord]) -> RunRecord:
    """The repetition with the median ``cow_ns`` (the lower middle one of an even count).

    A single run's total is at the mercy of host preemptions (under TCG without
    icount, a few faults of milliseconds); the median run is a real run with its
    own consistent counts and percentiles. With more than one repetition, every
    repetition's ``cow_ns`` (in run order) goes into ``extra["repeats_cow_ns"]``.
    """
    if not reps:
        raise CowrlError("median_of_repeats needs at least one run")
    cows = [float(np.sum(r.fault_ns)) for r in reps]
    keep = reps[sorted(range(len(reps)), key=cows.__getitem__)[(len(reps) - 1) // 2]]
    if len(reps) > 1:
        keep.extra["repeats_cow_ns"] = cows
    return keep


def run_repeated(runs: Sequence[Pair], repeats: int, warmup: bool,
                 execute: Callable[[list[Pair]], list[RunRecord]]) -> list[RunRecord]:
    """Run ``runs`` ``repeats`` times through ``execute`` (one session); one record per run.

    Repetition 0 runs them in the order given. Repetition ``r`` keeps each
    trace's slots in that order but rotates its policies by ``r``, so that no
    policy always runs first on a trace. With ``warmup``, one discarded run of
    ``runs[0]`` comes first (the first run after boot pays cold caches). Each
    run's record is :func:`median_of_repeats` of its repetitions.
    """
    if not runs:
        raise CowrlError("nothing to run: the plan has no (policy, trace) runs")
    if repeats < 1:
        raise CowrlError(f"repeats must be >= 1, got {repeats}")
    slots: dict[int, list[int]] = {}
    for i, (_, t) in enumerate(runs):
        slots.setdefault(id(t), []).append(i)
    rank = {i: j for g in slots.values() for j, i in enumerate(g)}
    order = [slots[id(t)][(rank[i] + r) % len(slots[id(t)])]
             for r in range(repeats) for i, (_, t) in enumerate(runs)]
    batch = [tuple(runs[i]) for i in order]
    if warmup:
        batch.insert(0, tuple(runs[0]))
    records = execute(batch)  # type: ignore[arg-type]
    if len(records) != len(batch):
        raise CowrlError(f"the session returned {len(records)} records for {len(batch)} runs")
    if warmup:
        records = records[1:]
    reps: dict[int, list[RunRecord]] = {}
    for i, rec in zip(order, records, strict=True):
        reps.setdefault(i, []).append(rec)
    return [median_of_repeats(reps[i]) for i in range(len(runs))]
