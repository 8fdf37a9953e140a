"""``target=kernel``: fit the cost model to per-fault latencies measured through the module.

Static precopy ``k`` over sequential traces of a few region sizes (plus the
hugepage policy, and a table policy that always chooses k = 0), and over a
reverse trace, run in one session (one guest boot) of the target
(:class:`cowrl.targets.Target`; ``target=kernel``, or the ``kernel_sim``
stand-in for tests). The simulator's event replay of the
same trace and policy, which the kernel target matches event for event, says
for each demand fault whether it queued precopy work (``k > 0``), how many
pages it precopied, how many window pages it found already private, and
whether it was the first fault in a huge page. Then one least squares fit
over all faults gives::

    latency = (fault_ns + copy_ns) + decide_ns * decided + precopy_setup_ns * [k > 0]
              + precopy_ns * precopied + precopy_skip_ns * skipped + thp_split_ns * thp_first

Identification: on a sequential trace every window page is still shared
(``skipped = 0``) and ``[k > 0]`` separates the fixed cost from the per-page
slope (k = 0 against k >= 1; the region end, where the window is clipped or
empty but the work still runs, adds leverage). On the reverse trace (pages
``n-1 .. 0``) every window page was written just before, so ``precopied = 0``
and ``skipped = min(k, n-1-p)``: its slope over k is ``precopy_skip_ns``.

``decide_ns``: the table runs (module TABLE mode: ``cowrl_policy_fault()`` at
every demand fault, under the target's lock) choose k = 0, so
their faults differ from the static k = 0 runs' on the same traces only by the
run-time decision. ``decide_ns`` is the difference of the two per-fault means
(after the same outlier trimming as the fit), with its standard error; the
fit's indicator column (``decided``) keeps those runs from biasing the other
coefficients, and its coefficient is recorded as a cross-check (it differs by
the intercept's offset from the k = 0 mean). ``decide_program_ns.guarded`` is
identified the same way from runs of a GUARDED table of zeros (module GUARDED
mode: its decision plus its page-table reads, no window); those runs stay out of
the least squares fit, whose one ``decided`` column is the TABLE decision's.

``copy_ns`` is the module's in-kernel time of a demand fault's
``wp_page_copy`` (``kfault_avg_ns`` of the k=0 runs: allocate, copy, PTE);
``fault_ns`` is the rest of the intercept. ``write_ns`` is the median latency
of writes that took no fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cowrl.calibration.config import CalibrationConfig, KernelBenchConfig
from cowrl.calibration.fit import (
    FAULT_MODEL,
    FaultSamples,
    FitError,
    fit_fault_model,
    lognormal_sigma,
    mean_difference,
    run_medians,
    trim_outliers,
)
from cowrl.calibration.provenance import host_facts, load_note, loadavg
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.policies.context import N_CELLS
from cowrl.policies.guarded import N_CELLS as G_CELLS
from cowrl.policies.guarded import GuardedPolicy
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.policies.table import TablePolicy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import SimEvents, decides, simulate
from cowrl.targets.base import Plan, Run, Target
from cowrl.traces.generators import reverse, sequential
from cowrl.traces.io import Trace

DECIDE_POLICY = "table0"
"""The calibration's table policy: k = 0 at every fault, decided in the module (TABLE mode)."""
GUARDED_POLICY = "guarded0"
"""The calibration's guarded policy: a GUARDED table of zeros (k = 0, GUARDED mode)."""

_UNIT = CostModel(fault_ns=0.0, copy_ns=0.0, precopy_ns=0.0, name="events-only")


def design(kb: KernelBenchConfig) -> tuple[list[Trace], list[Policy], list[Run]]:
    """The calibration's traces, policies and run order.

    Per repetition: a sequential trace per region size, run under every
    policy (static k, plus hugepage, plus with ``kernel_bench.decide`` a table
    policy whose table is all zeros: k = 0 decided at run time); with
    ``kernel_bench.reverse``, a reverse trace of the smallest region under the
    static-k policies (its windows cover pages already private: that
    identifies ``precopy_skip_ns``).
    Runs are interleaved (repetition, then trace, then policies in a rotated
    order) so that a drift of the host's load over the session does not line
    up with one policy (with ``kernel.icount: off``, guest time is host time).
    """
    policies: list[Policy] = [Baseline() if k == 0 else StaticPrecopy(k, name=f"precopy{k}")
                              for k in kb.ks]
    static = list(policies)
    if kb.hugepage:
        policies.append(HugePage())
    if kb.decide:
        policies.append(TablePolicy([0] * N_CELLS, name=DECIDE_POLICY))
        policies.append(GuardedPolicy(table=[0] * G_CELLS, name=GUARDED_POLICY))
    traces: list[Trace] = []
    order: list[Run] = []
    i = 0
    for r in range(kb.reps):
        suffix = f"_r{r}" if r else ""
        rep = [(sequential(n_pages=n, name=f"seq{n}{suffix}"), policies)
               for n in kb.region_pages]
        if kb.reverse:
            n = min(kb.region_pages)
            rep.append((reverse(n_pages=n, name=f"rev{n}{suffix}"), static))
        for t, pols in rep:
            traces.append(t)
            order += [Run(pols[(i + j) % len(pols)], t) for j in range(len(pols))]
            i += 1
    return traces, policies, order


def interleave(traces: Sequence[Trace], policies: Sequence[Policy]) -> list[Run]:
    """Every (trace, policy) once, policies rotated from one trace to the next."""
    n = len(policies)
    return [Run(policies[(i + j) % n], t) for i, t in enumerate(traces) for j in range(n)]


def events_for(runs: Sequence[Run]) -> dict[tuple[str, str], tuple[RunRecord, SimEvents]]:
    """Exact simulator events for every (trace, policy), keyed by (policy name, workload)."""
    out = {}
    for p, t in runs:
        rec, ev = simulate(t, p, _UNIT, record_events=True)
        out[(p.name, t.name)] = (rec, ev)
    return out


def samples_from_runs(records: Sequence[RunRecord], runs: Sequence[Run]
                      ) -> tuple[FaultSamples, np.ndarray, list[dict[str, Any]]]:
    """Per-fault samples (latency, precopied, thp_first, work, skipped, decided) and
    non-fault writes.

    A run whose fault or precopy counts differ from the simulator's is left
    out of the fit (its faults cannot be paired with events) and reported.
    """
    ev = events_for(runs)
    pol = {p.name: p for p, _ in runs}
    parts: list[FaultSamples] = []
    plain: list[np.ndarray] = []
    info_runs: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        sim, e = ev[(rec.policy, rec.workload)]
        p = pol[rec.policy]
        info = {"policy": rec.policy, "workload": rec.workload, "faults": rec.faults,
                "sim_faults": sim.faults, "precopied": rec.precopied,
                "sim_precopied": sim.precopied, "used": False, "decided": bool(decides(p)),
                "program": p.decide_program if decides(p) else None,
                "static_k0": p.static_k == 0 and not p.thp}
        info_runs.append(info)
        if rec.write_ns is None or rec.faults != sim.faults or rec.precopied != sim.precopied:
            info["why_unused"] = "counts differ from the simulator" if rec.write_ns is not None \
                else "no per-write latencies"
            continue
        w = np.asarray(rec.write_ns, dtype=np.float64)
        h = e.thp_first.astype(np.float64)
        if np.any(h) and not rec.extra.get("thp_backed", True):
            h = np.zeros_like(h)  # the region was not THP-backed: no split happened
            info["note"] = "hugepage run not THP-backed"
        parts.append(FaultSamples(w[e.write_index], e.precopied.astype(np.float64), h,
                                  np.full(e.write_index.size, i),
                                  e.work.astype(np.float64), e.skipped.astype(np.float64),
                                  np.full(e.write_index.size, float(decides(p)))))
        mask = np.ones(w.size, dtype=bool)
        mask[e.write_index] = False
        plain.append(w[mask])
        info["used"] = True
        info["fault_mean_ns"] = round(float(w[e.write_index].mean()), 1)
    return (FaultSamples.concat(parts), np.concatenate(plain) if plain else np.zeros(0),
            info_runs)


def fit_kernel(records: Sequence[RunRecord], runs_done: Sequence[Run], trim_factor: float
               ) -> dict[str, Any]:
    """Cost-model parameters and diagnostics from kernel-target runs (one per pair)."""
    s, plain, runs = samples_from_runs(records, runs_done)
    if s.latency_ns.size == 0:
        raise FitError("no kernel run matched the simulator's events; nothing to fit "
                       f"(runs: {runs})")
    other = [i for i, r in enumerate(runs) if r.get("program") not in (None, "table")]
    s_fit = s.select(~np.isin(s.run, other))  # other programs' decisions: decide_estimate
    fit, trimmed = fit_fault_model(s_fit, trim_factor)
    notes: list[str] = []

    def coef(name: str) -> float | None:
        return fit[name] if name in fit.names else None

    demand_ns = fit["demand_ns"]
    precopy_ns = coef("precopy_ns")
    if precopy_ns is None:
        raise FitError("the kernel runs did not vary the pages precopied; precopy_ns is "
                       "not identified (check kernel_bench.ks)")
    thp = coef("thp_split_ns")
    if thp is not None and thp < 0:
        notes.append(f"fitted thp_split_ns {thp:.0f} ns < 0 (no measurable split cost): set 0")
        thp = 0.0
    setup, skip = coef("precopy_setup_ns"), coef("precopy_skip_ns")
    for name, v in (("precopy_setup_ns", setup), ("precopy_skip_ns", skip)):
        if v is None:
            notes.append(f"{name} not identified by these runs (its column never varies; "
                         "a reverse trace with k > 0 identifies precopy_skip_ns): set 0")
        elif v < 0:
            notes.append(f"fitted {name} {v:.0f} ns < 0: set 0")
    setup = max(0.0, setup or 0.0)
    skip = max(0.0, skip or 0.0)
    decide, decide_fit = decide_estimate(s, runs, records, trim_factor, coef("decide_ns"))
    if decide_fit.get("note"):
        notes.append(decide_fit["note"])
    programs: dict[str, float] = {}
    program_fits: dict[str, Any] = {}
    for prog in sorted({r["program"] for r in runs if r.get("used")} - {None, "table"}):
        v, f = decide_estimate(s, runs, records, trim_factor, None, program=prog)
        program_fits[prog] = f
        if f.get("note"):
            notes.append(f["note"])
        if "n_table_runs" in f:
            programs[prog] = round(v, 1)
    # copy_ns: the share of a k=0 demand fault spent inside wp_page_copy (module timing),
    # paired with the harness latency of the same faults.
    kf = [(float(r.extra.get("kfault_avg_ns", 0.0)), float(np.mean(r.fault_ns)), r.faults)
          for r in records if r.extra.get("k", None) == 0 and not r.extra.get("thp", False)
          and r.extra.get("mode", "static") == "static"
          and r.extra.get("kfault_avg_ns", 0.0) > 0 and r.faults > 0]
    if kf:
        share = sum(k * n for k, _, n in kf) / sum(h * n for _, h, n in kf)
        if share > 1:
            notes.append(f"in-kernel copy time exceeds the harness latency (share {share:.2f}); "
                         "copy_ns set to the whole demand cost")
        share = min(1.0, share)
        copy_ns = share * demand_ns
        copy_src = (f"module in-kernel wp_page_copy time of k=0 demand faults = {share:.1%} of "
                    "their harness latency (kfault_avg_ns / mean fault_ns), times the intercept")
    else:
        share = None
        copy_ns = precopy_ns
        copy_src = "no in-kernel timings: copy_ns = precopy_ns (COW break without a trap)"
        notes.append(copy_src)
    fault_ns = demand_ns - copy_ns
    if fault_ns < 0:
        notes.append(f"precopy_ns {copy_ns:.0f} ns exceeds the fitted demand cost "
                     f"{demand_ns:.0f} ns: fault_ns clipped to 0")
        fault_ns = 0.0
    fitted = CostModel(fault_ns=max(0.0, demand_ns), copy_ns=0.0,
                       precopy_ns=max(0.0, precopy_ns), thp_split_ns=thp or 0.0,
                       precopy_setup_ns=setup, precopy_skip_ns=skip,
                       decide_ns=max(0.0, coef("decide_ns") or 0.0), name="fitted")
    pred = fitted.fault_cost(s_fit.precopied, s_fit.thp_first, s_fit.work, s_fit.skipped,
                             s_fit.decided)
    noise = lognormal_sigma(s_fit.latency_ns / pred)
    per_k: dict[str, Any] = {}
    for r in runs:
        if r.get("used"):
            per_k.setdefault(r["policy"], {})[r["workload"]] = r["fault_mean_ns"]
    params = {"fault_ns": round(fault_ns, 1), "copy_ns": round(copy_ns, 1),
              "precopy_ns": round(max(0.0, precopy_ns), 1),
              "thp_split_ns": round(thp, 1) if thp is not None else None,
              "write_ns": round(float(np.median(plain)), 1) if plain.size else None,
              "precopy_setup_ns": round(setup, 1), "precopy_skip_ns": round(skip, 1),
              "decide_ns": round(decide, 1), "decide_program_ns": programs,
              "sigma": round(noise["sigma"], 3)}
    if precopy_ns < 0:
        notes.append(f"fitted precopy_ns {precopy_ns:.0f} < 0: set 0")
    fits = {
        "faults": {**fit.summary(), "trimmed": trimmed, "model": FAULT_MODEL,
                   "samples": {"work": int(s_fit.work.sum()),
                               "skipped_pages": int(s_fit.skipped.sum()),
                               "precopied_pages": int(s_fit.precopied.sum()),
                               "thp_first": int(s_fit.thp_first.sum()),
                               "decided": int(s_fit.decided.sum())}},
        "decide": decide_fit,
        **({"decide_program": program_fits} if program_fits else {}),
        "copy_split": {"source": copy_src, "copy_ns": round(copy_ns, 1),
                       "kernel_share": round(share, 4) if share is not None else None,
                       "runs": len(kf)},
        "noise": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in noise.items()},
        "plain_write": {"median_ns": round(float(np.median(plain)), 1) if plain.size else None,
                        "n": int(plain.size)},
        "fault_mean_ns_by_run": per_k,
        "runs_used": int(sum(r["used"] for r in runs)),
        "runs_total": len(runs),
    }
    alt = per_page_only_fit(s, trim_factor)
    if alt is not None:
        fits["diagnostic_per_page_only"] = alt
    unused = [r for r in runs if not r["used"]]
    if unused:
        fits["runs_unused"] = unused
    return {"params": params, "fits": fits, "notes": notes}


def decide_estimate(s: FaultSamples, runs: Sequence[dict[str, Any]],
                    records: Sequence[RunRecord], trim_factor: float,
                    fit_coef: float | None, program: str = "table"
                    ) -> tuple[float, dict[str, Any]]:
    """``decide_ns`` (or ``decide_program_ns[program]``): per-fault mean of the ``program``
    k=0 runs minus that of the static k=0 runs on the same traces (samples trimmed as in the
    fit), with counts and standard error."""
    keep = trim_outliers(s.latency_ns, run_medians(s), trim_factor)
    table = [i for i, r in enumerate(runs) if r.get("used") and r["decided"]
             and r.get("program", "table") == program]
    name = "decide_ns" if program == "table" else f"decide_program_ns.{program}"
    mode = "TABLE" if program == "table" else program.upper()
    traces = {runs[i]["workload"] for i in table}
    static = [i for i, r in enumerate(runs) if r.get("used") and r["static_k0"]
              and r["workload"] in traces]
    out: dict[str, Any] = {
        "model": f"{name} = mean latency of {program} k=0 faults (module {mode} mode, decided "
                 "at run time) - mean latency of static k=0 faults, same traces and boot",
        "traces": sorted(traces)}
    if not table or not static:
        out["note"] = (f"{name} not identified by these runs (no {program} k=0 runs paired "
                       "with static k=0 runs; kernel_bench.decide): set 0")
        return 0.0, out
    a = keep & np.isin(s.run, table)
    b = keep & np.isin(s.run, static)
    d = mean_difference(s.latency_ns[a], s.latency_ns[b])
    out.update({
        "decide_ns": round(d["diff_ns"], 1), "stderr_ns": round(d["stderr_ns"], 1),
        "table_k0_mean_ns": round(d["mean_a_ns"], 1), "static_k0_mean_ns": round(d["mean_b_ns"], 1),
        "n_table_faults": d["n_a"], "n_static_faults": d["n_b"],
        "n_table_runs": len(table), "n_static_runs": len(static),
        "fit_indicator_coef_ns": round(fit_coef, 1) if fit_coef is not None else None})
    # the module's own counters (ktime around cowrl_policy_fault, and around nothing)
    mod = [(float(records[i].extra["decide_avg_ns"]),
            float(records[i].extra.get("decide_clock_avg_ns", 0.0)),
            int(records[i].extra.get("decisions", 0))) for i in table
           if "decide_avg_ns" in records[i].extra]
    n_dec = sum(n for *_, n in mod)
    if n_dec:
        out["module_decide_avg_ns"] = round(sum(x * n for x, _, n in mod) / n_dec, 1)
        out["module_decide_clock_avg_ns"] = round(sum(c * n for _, c, n in mod) / n_dec, 1)
        out["module_decisions"] = n_dec
    if d["diff_ns"] < 0:
        out["note"] = f"measured {name} {d['diff_ns']:.0f} ns < 0: set 0"
        return 0.0, out
    return d["diff_ns"], out


def per_page_only_fit(s: FaultSamples, trim_factor: float) -> dict[str, Any] | None:
    """Diagnostic: the older model without ``precopy_setup_ns`` and ``precopy_skip_ns``.

    ``latency = demand_ns + precopy_ns * precopied + thp_split_ns * thp_first``, fitted
    on the same faults, to show what the two terms change (its R² and residuals).
    """
    try:
        f, _ = fit_fault_model(s, trim_factor, terms=("precopy_ns", "thp_split_ns"))
    except FitError:
        return None
    return {**f.summary(), "model": "latency = demand_ns + precopy_ns * precopied + "
                                    "thp_split_ns * thp_first (the cost model before "
                                    "precopy_setup_ns and precopy_skip_ns; diagnostic only)"}


HEADER_MEASURED = (
    "CALIBRATED through the kernel target by `python calibrate.py target={target}{quick}`:\n"
    "module + replay harness in the {runner} guest ({accel}). Matches `eval.py target=kernel`.\n"
    "Clock: {clock}.\nSee docs/calibration.md; `provenance` has the fits. Do not edit by hand: "
    "re-run.")
HEADER_FAKE = (
    "FAKE: produced by calibrate.py target={target}, i.e. from the simulator\nwith a known cost "
    "model. NOT A MEASUREMENT; for testing the pipeline only.")


def calibrate_kernel(cc: CalibrationConfig, target: Target) -> dict[str, Any]:
    """Run the calibration design on ``target`` (one session) and fit it.

    ``target`` must record one latency per write (the kernel target, or the
    ``kernel_sim`` stand-in, whose cost model is then ``target.costmodel``).
    Returns ``params``, ``provenance`` and the YAML's ``header``.
    """
    from cowrl.errors import ConfigError
    from cowrl.registry import make_costmodel

    if not target.write_latencies:
        raise ConfigError(f"target: {target.name!r} records no per-write latencies to fit; "
                          "calibrate target=kernel (or host)")
    kb = cc.kernel_bench
    traces, policies, order = design(kb)
    fake = not target.measured
    facts = host_facts()
    before = loadavg()
    cost = make_costmodel(target.costmodel) if target.costmodel else _UNIT
    records = target.run(Plan(order, cost, seed=cc.seed, repeats=1, progress=cc.progress))
    after = loadavg()
    res = fit_kernel(records, order, cc.trim_factor)
    x = records[0].extra if records else {}
    res["provenance"] = {
        "calibrated": not fake,
        "source": ("FAKE BACKEND (simulator with a known cost model): NOT A MEASUREMENT"
                   if fake else f"calibrate.py target={target.name} (module + replay harness)"),
        "target": target.name,
        "runner": x.get("runner", "?"),
        "accelerator": x.get("accel", "?"),
        "clock": _clock_note(x),
        "kernel": x.get("kernel_release", "?"),
        "cpu_model": f"guest vCPU emulated on host {facts['cpu_model']}"
                     if str(x.get("accel", "")).lower() == "tcg" else facts["cpu_model"],
        "host_kernel": facts["kernel"],
        "host_cpus": facts["cpus"],
        "date": facts["date"],
        "quick": cc.quick,
        **load_note(before, after, facts["cpus"]),
        "load_note_detail": "the load after includes this session's own qemu; before is others'",
        "design": {"traces": [t.name for t in traces], "policies": [p.name for p in policies],
                   "ks": kb.ks, "region_pages": kb.region_pages, "hugepage": kb.hugepage,
                   "reverse": kb.reverse, "decide": kb.decide, "reps": kb.reps,
                   "order": "interleaved (rep, trace, rotated policies)",
                   "kernel_config": _target_summary(target),
                   "one_boot": True, "trim_factor": cc.trim_factor},
        "identification": {
            "fault_ns + copy_ns": "intercept of the per-fault least squares fit",
            "precopy_setup_ns": "coefficient of [k > 0]: the module queues precopy work for "
                                "every demand fault with k > 0 (k = 0 vs k >= 1 runs)",
            "precopy_ns": "slope in pages precopied (from the simulator's exact events)",
            "precopy_skip_ns": "slope in window pages already private (reverse-trace runs: "
                               "every window page was written before, none is copied)",
            "copy_ns": res["fits"]["copy_split"]["source"],
            "thp_split_ns": "coefficient of the first fault per 2 MiB page (hugepage runs)",
            "decide_ns": "per-fault mean of table-mode runs that always choose k=0 (policy "
                         f"{DECIDE_POLICY}: cowrl_policy_fault() at every demand fault) minus "
                         "that of static k=0 runs on the same sequential traces (fits.decide)",
            "decide_program_ns.guarded": "the same with a GUARDED table of zeros (policy "
                                         f"{GUARDED_POLICY}: cowrl_guarded.h and its page-table "
                                         "reads at every demand fault; fits.decide_program)",
            "write_ns": "median latency of writes that took no fault",
            "noise.sigma": "RMS of log(latency / fitted mean), all fitted faults",
        },
        "fits": res.pop("fits"),
        "notes": res.pop("notes"),
    }
    prov = res["provenance"]
    res["header"] = (HEADER_FAKE if fake else HEADER_MEASURED).format(
        target=target.name, quick=" quick=true" if cc.quick else "", runner=prov["runner"],
        accel=prov["accelerator"], clock=prov["clock"])
    return res


def _clock_note(extra: dict[str, Any]) -> str:
    """What the measured nanoseconds are: the guest clock mode of the runs."""
    ic = str(extra.get("icount", "unknown"))
    accel = str(extra.get("accel", "?")).lower()
    if ic.startswith("shift=") and "sleep=off" in ic:
        n = int(ic.split(",")[0].split("=")[1])
        return (f"icount {ic}: guest time = {2 ** n} ns per guest instruction executed "
                "(deterministic virtual time; ns rank work, they are not wall latency)")
    if ic == "shift=auto":
        return "icount shift=auto: adaptive virtual time that follows host time (not deterministic)"
    if accel == "tcg":
        return "icount off: guest time is host time (host preemption lands in latencies)"
    return f"{ic}: real time ({accel})"


def _target_summary(target: Target) -> dict[str, Any]:
    """The settings that change the timings (for a kernel: vCPUs, memory, writer, clock)."""
    facts = target.describe()
    return {k: facts[k] for k in ("target", "runner", "accel", "cpus", "memory_mb", "writer",
                                  "icount", "truth", "sigma") if k in facts}
