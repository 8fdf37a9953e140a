"""``target=host``: measure COW costs on the running kernel (no root, no module).

Identification (also in ``docs/calibration.md``):

* ``fault_ns + copy_ns``: mean latency of a timed one-byte write that takes a
  demand COW fault after fork (THP off), as the replay harness times it.
* ``precopy_ns``: the marginal per-page cost of ``madvise(MADV_POPULATE_WRITE)``
  over shared pages after fork, i.e. the slope of call latency on batch size.
  It breaks COW page by page through the same fault handler, without a trap:
  that is what a precopied page costs.
* ``copy_ns``: the same marginal cost. Breaking COW on one page without a trap
  (allocate, copy 4 KiB, update the PTE) is the "copy"; what a demand fault
  costs on top of that (exception entry and exit, fault dispatch, VMA lookup)
  is ``fault_ns``. The bare 4 KiB ``memcpy`` is recorded as a lower bound.
* ``thp_split_ns``: in THP-backed regions, the extra latency of the first
  demand fault in each 2 MiB page over the other faults.
* ``write_ns``: median latency of a timed write to a page already private.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl import paths
from cowrl.calibration.config import CalibrationConfig, HostBenchConfig
from cowrl.calibration.fit import (
    FaultSamples,
    FitError,
    fit_fault_model,
    fit_linear,
    lognormal_sigma,
    trim_outliers,
)
from cowrl.calibration.provenance import host_facts, load_note, loadavg, thp_setting
from cowrl.errors import TargetUnavailable
from cowrl.sim.costmodel import HUGE_PAGES

BENCH_SRC = Path(__file__).resolve().parent / "hostbench.c"
BENCH_HEADER = paths.place("kernel_module") / "harness" / "cowrl_region.h"
"""The replay harness's region layout, which ``hostbench.c`` includes (``-I`` its directory)."""


def build_bench(cc: str = "cc", cache_dir: Path | None = None) -> Path:
    """Compile ``hostbench.c`` once per source hash; returns the binary's path."""
    if not BENCH_HEADER.is_file():
        paths.require("kernel_module")  # the directory is nowhere: one line naming the places
        raise TargetUnavailable(f"{BENCH_HEADER}: the harness's region header is missing")
    src = BENCH_SRC.read_bytes() + BENCH_HEADER.read_bytes()
    digest = hashlib.sha256(src).hexdigest()[:12]
    cache = (cache_dir or Path("~/.cache/cowrl/calibration").expanduser())
    exe = cache / f"hostbench-{digest}"
    if exe.is_file():
        return exe
    if shutil.which(cc) is None:
        raise TargetUnavailable(f"host calibration needs a C compiler: {cc!r} is not on PATH "
                                "(install gcc, or set host_bench.cc=...)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(".tmp")
    r = subprocess.run([cc, "-O2", "-Wall", "-I", str(BENCH_HEADER.parent), "-o", str(tmp),
                        str(BENCH_SRC)],
                       capture_output=True, text=True)
    if r.returncode:
        raise TargetUnavailable(f"compiling {BENCH_SRC.name} failed: {r.stderr.strip()[:300]}")
    tmp.replace(exe)
    return exe


@dataclass
class BenchRun:
    samples: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def run_bench(exe: Path, mode: str, n_pages: int, reps: int, thp: bool = False,
              batch: int = 1) -> BenchRun:
    """One hostbench invocation: ``reps`` forks (or copies) of ``n_pages`` pages."""
    with tempfile.TemporaryDirectory(prefix="cowrl-hostbench-") as d:
        out = Path(d) / "samples.bin"
        r = subprocess.run([str(exe), mode, str(n_pages), str(reps), str(int(thp)), str(batch),
                            str(out)], capture_output=True, text=True, timeout=600)
        if r.returncode:
            raise TargetUnavailable(f"hostbench {mode} failed: {r.stderr.strip()[:300]}")
        samples = np.fromfile(out, dtype="<u8").astype(np.float64)
    info: dict[str, Any] = {}
    huge = []
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        if k == "anon_huge_kb":
            huge.append(int(v))
        elif v.lstrip("-").isdigit():
            info[k] = int(v)
    info["anon_huge_kb"] = huge
    return BenchRun(samples, info)


def thp_available() -> bool:
    s = thp_setting()
    return s != "unavailable" and "[never]" not in s


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="bench", disable=not enabled, leave=False)


def measure_host(hb: HostBenchConfig, progress: bool = True) -> dict[str, Any]:
    """Run every microbenchmark; returns raw samples and facts (no fitting)."""
    exe = build_bench(hb.cc)
    want_thp = hb.thp == "on" or (hb.thp == "auto" and thp_available())
    if hb.thp == "on" and not thp_available():
        raise TargetUnavailable("host_bench.thp=on but transparent huge pages are unavailable "
                                f"here ({thp_setting()}); use host_bench.thp=auto or off")
    n_pop = sum(b <= n for n in hb.region_pages for b in hb.populate_batches)
    n_jobs = (len(hb.region_pages) + n_pop + 1
              + (len(hb.thp_region_pages) if want_thp else 0))
    reps, warm = hb.reps, hb.warmup_reps
    out: dict[str, Any] = {"demand": [], "populate": [], "thp": [], "thp_backed": None}
    with _progress(n_jobs, progress, "host calibration") as bar:
        for n in hb.region_pages:
            r = run_bench(exe, "demand", n, reps + warm)
            s = r.samples.reshape(reps + warm, 2, n)[warm:]
            out["demand"].append({"n_pages": n, "fault": s[:, 0], "plain": s[:, 1]})
            out["timer_min_ns"] = r.info.get("timer_min_ns", 0)
            bar.update()
        for n in hb.region_pages:
            for b in (b for b in hb.populate_batches if b <= n):
                r = run_bench(exe, "populate", n, reps + warm, batch=b)
                s = r.samples.reshape(reps + warm, n // b)[warm:]
                out["populate"].append({"n_pages": n, "batch": b, "ns": s.ravel()})
                bar.update()
        r = run_bench(exe, "memcpy", hb.memcpy_pages, reps + warm)
        out["memcpy"] = r.samples.reshape(reps + warm, hb.memcpy_pages)[warm:].ravel()
        bar.update()
        if want_thp:
            backed = []
            for n in hb.thp_region_pages:
                r = run_bench(exe, "demand", n, reps + warm, thp=True)
                s = r.samples.reshape(reps + warm, 2, n)[warm:]
                out["thp"].append({"n_pages": n, "fault": s[:, 0]})
                backed += r.info["anon_huge_kb"]
                bar.update()
            out["thp_backed"] = bool(backed) and min(backed) > 0
    out["want_thp"] = want_thp
    out["thp_setting"] = thp_setting()
    return out


def _fault_samples(blocks: list[dict[str, Any]], thp: bool, run0: int = 0) -> FaultSamples:
    parts = []
    run = run0
    for b in blocks:
        for rep in b["fault"]:
            n = rep.size
            h = np.zeros(n)
            if thp:
                h[::HUGE_PAGES] = 1.0  # sequential writes: page 0 of each huge page faults first
            parts.append(FaultSamples(rep, np.zeros(n), h, np.full(n, run)))
            run += 1
    return FaultSamples.concat(parts)


def fit_host(raw: dict[str, Any], trim_factor: float) -> dict[str, Any]:
    """Cost-model parameters and fit diagnostics from :func:`measure_host`'s samples."""
    notes: list[str] = []
    # Demand faults, THP off: intercept = fault_ns + copy_ns.
    dem = _fault_samples(raw["demand"], thp=False)
    dfit, dtrim = fit_fault_model(dem, trim_factor)
    demand_ns = dfit["demand_ns"]
    by_size = {}
    for b in raw["demand"]:
        f = b["fault"].ravel()
        keep = trim_outliers(f, np.full(f.shape, np.median(f)), trim_factor)
        by_size[int(b["n_pages"])] = {"mean_ns": round(float(f[keep].mean()), 1),
                                      "median_ns": round(float(np.median(f)), 1),
                                      "n": int(f.size)}
    sizes = sorted(by_size)
    size_fit = fit_linear({"demand_ns": np.ones(len(sizes)), "per_log2_pages": np.log2(sizes)},
                          np.array([by_size[s]["mean_ns"] for s in sizes])) if len(sizes) > 2 \
        else None
    # Noise: per-fault latency relative to its median.
    f_all = dem.latency_ns
    noise = lognormal_sigma(f_all)
    # MADV_POPULATE_WRITE: call latency = syscall_ns + per_page_ns * batch.
    xs = np.concatenate([np.full(p["ns"].size, p["batch"], dtype=np.float64)
                         for p in raw["populate"]])
    ys = np.concatenate([p["ns"] for p in raw["populate"]])
    med = np.concatenate([np.full(p["ns"].size, np.median(p["ns"])) for p in raw["populate"]])
    keep = trim_outliers(ys, med, trim_factor)
    pfit = fit_linear({"syscall_ns": np.ones(int(keep.sum())), "per_page_ns": xs[keep]}, ys[keep])
    bs = np.array([p["batch"] for p in raw["populate"]], dtype=np.float64)
    bmeans = np.array([p["ns"][trim_outliers(p["ns"], np.full(p["ns"].shape, np.median(p["ns"])),
                                              trim_factor)].mean() for p in raw["populate"]])
    pmeans = fit_linear({"syscall_ns": np.ones(bs.size), "per_page_ns": bs}, bmeans)
    pop_by_size = {}
    for n in sorted({int(p["n_pages"]) for p in raw["populate"]}):
        m = np.array([p["n_pages"] == n for p in raw["populate"]])
        if len(set(bs[m])) > 1:
            f = fit_linear({"syscall_ns": np.ones(int(m.sum())), "per_page_ns": bs[m]}, bmeans[m])
            pop_by_size[n] = round(f["per_page_ns"], 1)
    # The slope from per-(size, batch) means weights every batch size alike; the per-call
    # fit is dominated by the many batch=1 calls, whose fixed cost swamps the slope.
    per_page = pmeans["per_page_ns"]
    if per_page <= 0:
        raise FitError(f"MADV_POPULATE_WRITE per-page slope is {per_page:.0f} ns (<= 0): "
                       "the batches did not scale; raise host_bench.reps")
    mc = raw["memcpy"]
    memcpy_ns = float(np.mean(mc[trim_outliers(mc, np.full(mc.shape, np.median(mc)),
                                               trim_factor)]))
    copy_ns = per_page
    precopy_ns = per_page
    fault_ns = demand_ns - copy_ns
    if fault_ns < 0:
        notes.append(f"demand fault mean ({demand_ns:.0f} ns) < POPULATE_WRITE per-page cost "
                     f"({per_page:.0f} ns): fault_ns clipped to 0")
        fault_ns = 0.0
    # THP: extra cost of the first fault in each huge page.
    thp_split_ns = None
    tfit = None
    if raw["thp"] and raw["thp_backed"]:
        th = _fault_samples(raw["thp"], thp=True, run0=10_000)
        tfit, _ = fit_fault_model(th, trim_factor)
        thp_split_ns = max(0.0, tfit["thp_split_ns"])
        if thp_split_ns > 0.25 * (HUGE_PAGES - 1) * memcpy_ns:
            notes.append("THP first-fault extra is comparable to copying the whole huge page: "
                         "check whether this kernel copies 2 MiB (thp_model=CopyWholeHuge)")
    elif raw["want_thp"]:
        notes.append("THP was requested but the region was not THP-backed "
                     f"(setting {raw['thp_setting']}); thp_split_ns not measured")
    else:
        notes.append(f"THP unavailable here ({raw['thp_setting']}); thp_split_ns not measured")
    plain = np.concatenate([b["plain"].ravel() for b in raw["demand"]])
    params = {
        "fault_ns": round(fault_ns, 1),
        "copy_ns": round(copy_ns, 1),
        "precopy_ns": round(precopy_ns, 1),
        "thp_split_ns": round(thp_split_ns, 1) if thp_split_ns is not None else None,
        "write_ns": round(float(np.median(plain)), 1),
        # No module, no precopy work: the fixed cost of queuing it and the cost of walking
        # an already-private window page cannot be measured from user space.
        "precopy_setup_ns": 0.0,
        "precopy_skip_ns": 0.0,
        # No module, no table mode: the run-time decision cost cannot be measured here.
        "decide_ns": 0.0,
        "sigma": round(noise["sigma"], 3),
    }
    fits: dict[str, Any] = {
        "demand": {**dfit.summary(), "trimmed": dtrim,
                   "model": "latency = (fault_ns + copy_ns); THP off, sequential writes"},
        "demand_by_region_pages": by_size,
        "populate_write": {**pfit.summary(), "trimmed": int((~keep).sum()),
                           "model": "call_ns = syscall_ns + per_page_ns * batch_pages; "
                                    "per_page_ns used = batch_means_fit",
                           "batches": sorted({int(p["batch"]) for p in raw["populate"]}),
                           "per_page_ns_by_region_pages": pop_by_size,
                           "batch_means_fit": {"r2": round(pmeans.r2, 4),
                                               "coef_ns": pmeans.summary()["coef_ns"],
                                               "n_groups": int(bs.size)}},
        "memcpy_4k": {"mean_ns": round(memcpy_ns, 1), "median_ns": round(float(np.median(mc)), 1),
                      "n": int(mc.size)},
        "noise": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in noise.items()},
        "plain_write": {"median_ns": round(float(np.median(plain)), 1),
                        "mean_ns": round(float(plain.mean()), 1), "n": int(plain.size),
                        "timer_min_ns": int(raw.get("timer_min_ns", 0))},
    }
    if size_fit is not None:
        fits["demand_size_trend"] = {**size_fit.summary(),
                                     "model": "mean fault_ns vs log2(region pages)"}
    if tfit is not None:
        fits["thp"] = {**tfit.summary(),
                       "model": "latency = demand_ns + thp_split_ns * first_fault_in_huge_page",
                       "first_fault_samples": int(_fault_samples(raw["thp"], True)
                                                  .thp_first.sum())}
    return {"params": params, "fits": fits, "notes": notes}


def calibrate_host(cc: CalibrationConfig) -> dict[str, Any]:
    """Measure and fit on this machine; returns params, fits and provenance."""
    facts = host_facts()
    before = loadavg()
    raw = measure_host(cc.host_bench, cc.progress)
    after = loadavg()
    res = fit_host(raw, cc.trim_factor)
    hb = cc.host_bench
    res["provenance"] = {
        "calibrated": True,
        "source": "calibrate.py target=host (cowrl/calibration/hostbench.c)",
        "bench_sha256_12": hashlib.sha256(BENCH_SRC.read_bytes()).hexdigest()[:12],
        "target": "host",
        "runner": "host (user space, no module)",
        "accelerator": "native",
        **facts,
        "thp_setting": raw["thp_setting"],
        "quick": cc.quick,
        **load_note(before, after, facts["cpus"]),
        "design": {"region_pages": hb.region_pages, "reps": hb.reps,
                   "warmup_reps_discarded": hb.warmup_reps,
                   "populate_batches": hb.populate_batches, "memcpy_pages": hb.memcpy_pages,
                   "thp_region_pages": hb.thp_region_pages if raw["want_thp"] else [],
                   "trim_factor": cc.trim_factor},
        "identification": {
            "fault_ns": "mean demand-fault write latency minus copy_ns (the trap's share)",
            "copy_ns": "MADV_POPULATE_WRITE marginal ns per page: COW break without a trap",
            "precopy_ns": "same as copy_ns (precopy breaks COW page by page without a trap)",
            "thp_split_ns": "first fault per 2 MiB page minus other faults, THP-backed region",
            "write_ns": "median timed write to an already private page (timer included)",
            "precopy_setup_ns": "not identifiable without the module (no precopy work runs "
                                "in user space): 0",
            "precopy_skip_ns": "not identifiable without the module (no precopy window is "
                               "walked in user space): 0",
            "decide_ns": "not measurable without the module (the run-time decision is the "
                         "module's TABLE mode, cowrl_policy_fault() at each demand fault): 0",
            "noise.sigma": "RMS of log(fault latency / median), demand faults THP off",
        },
        "fits": res.pop("fits"),
        "notes": res.pop("notes"),
    }
    return res
