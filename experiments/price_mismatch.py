"""Calibration error: ``shield64`` priced with one cost model and run on a machine whose true
costs are another's. How wrong may the prices be before the 1.02 x safety target breaks?

    python experiments/price_mismatch.py                  # the figures of docs/policies.md
    python experiments/price_mismatch.py --quick          # CI: 1 draw per family, 2 recordings
    python experiments/price_mismatch.py --policy DIR     # a trained policy (train.py out=DIR)
    python experiments/price_mismatch.py --check          # with the run-time price check

``shield64`` (conf/policy/shield64.yaml: the GUARDED program asking k = 64 at every fault, the
risk budget alone deciding) gets its budget constants from a pricing model P
(``GuardedPolicy.for_cost`` through ``deployed_under``, as ``costmodel: P`` would) and is
replayed by the simulator with the true model T's costs (``simulate(trace, policy, T)``); the
objective (``cowrl.metrics.objective``, lambda = 1, waste in T's page copies) is compared with
baseline's (k = 0) under T on the same trace. ``--policy`` measures another policy the same
way: a conf/policy name or a saved artifact (``train.py policy=bandit out=DIR``), frozen and
priced by P through its ``deployed_under(P)`` (a PPO or DQN saved with ``guard_lam``, since
2026-12-05, too: its shield is re-priced). A policy that ``deployed_under`` cannot re-price (a
PPO or DQN saved before: its shield keeps the prices it was trained with, ``seed_table1`` by
default) is refused unless ``--own-prices NAME`` names those prices; then only the pairs
with P = NAME are run, and each scaled error as a truth whose prices of that kind are NAME's
divided by s (``NAME precopy /0.9``: the same error, priced at 0.9 of the truth).

Pairs: every (P, T) over the cost models of conf/costmodel (``auto`` is not one), and P = T
with T's copy prices scaled by each ``--scales`` factor s (s < 1: a machine where copies are
1/s x dearer than the calibration says; s > 1: cheaper). Two kinds of error: ``copy`` scales
``copy_ns`` and ``precopy_ns`` (every page copy, in a fault or in a window, misjudged alike),
``precopy`` scales only what a window pays (``precopy_ns``, ``precopy_setup_ns``,
``precopy_skip_ns``, ``proof_clean_ns``), the demand fault as calibrated.

``--unpriced tcg`` (the default) adds what no scaling shows: ``host`` and ``seed_table1`` have
no cost for a window's setup or for its walk over pages already private
(``precopy_setup_ns``, ``precopy_skip_ns`` are 0; only the kernel calibration identifies
them), so each is also run against a truth T' with those two terms at ``tcg``'s share of a
precopied page, priced by T (not priced) and by T' (priced).

Traces: development draws only (seeds 2000.., ``--draws`` per family of the 17 generator
families, as experiments/guarded_waste.py draws them) and the recorded corpus data/traces/*.npz;
never the validation traces nor the never-seen programs (docs/traces.md).

``--check`` (off by default; a simulator study, in no shipped policy and not in the module)
adds a run-time price check (:class:`PriceCheck`, docs/policies.md "A run-time price check"):
per trace, from the run's events, what the module would measure (each demand fault's
``latency_ns`` inside ``wp_page_copy``: T's ``copy_ns``; each window's ``work_ns``: its setup,
copies with their clean and walk over private pages in T's prices; each with a lognormal
factor of T's ``noise.sigma``, drawn from ``default_rng(i)`` for the i-th trace) against what
P prices them at; once the window's measured/priced ratio exceeds the demand copy's by
``1 + --check-tol`` after ``--check-min`` windows, the rest of the trace runs with k = 0. The
row then also counts the traces where it tripped.

Per pair it prints the geometric-mean gain over baseline, the worst trace (objective /
baseline's, and its name), the pages copied and wasted over all traces, the budget's
break-even hit rate under P and under T (the share of copied pages that must be written for a
copy to pay; above ``MAX_BREAK_EVEN``, 1 - 1/32 since 2026-12-05 and 1 - 1/16 before, the
budget grants nothing and the shield is inert, k = 0), and whether the worst ratio is within
the 1.02 x target.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guarded_options import CORPUS  # noqa: E402
from guarded_waste import draws_of  # noqa: E402

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import TARGETS  # noqa: E402
from cowrl.metrics import RunRecord, geomean_gain, objective  # noqa: E402
from cowrl.policies.artifacts import load_policy  # noqa: E402
from cowrl.policies.base import Policy  # noqa: E402
from cowrl.policies.guarded import MAX_BREAK_EVEN, GuardedPolicy, break_even  # noqa: E402
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import available, make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.engine import ReplayEngine  # noqa: E402
from cowrl.sim.simulator import SimEvents, decides, simulate, trims  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

CHECK_DEFAULTS = {"sum": (0.09, 1024), "mean": (0.09, 256)}
"""``--check``'s ``tau`` and ``M`` per ``--check-stat`` (docs/policies.md, "A run-time price
check": each chosen at P = T on the development draws, before any mismatch was measured with
it)."""

CHECK_CAP = 8.0
"""``--check-stat mean``: the most one measurement's ratio to its price counts."""

SCALED = {"copy": ("copy_ns", "precopy_ns"),
          "precopy": ("precopy_ns", "precopy_setup_ns", "precopy_skip_ns", "proof_clean_ns")}
"""What each kind of calibration error scales (``--kinds``)."""


def scaled(cost: CostModel, kind: str, s: float) -> CostModel:
    """``cost`` with the prices of ``kind`` times ``s`` (s < 1: cheaper than the truth)."""
    return replace(cost, name=f"{cost.name} {kind} x{s:g}",
                   **{f: getattr(cost, f) * s for f in SCALED[kind]})


UNPRICED = ("precopy_setup_ns", "precopy_skip_ns")
"""Window costs that only the kernel calibration (``tcg``) identifies: ``host`` and
``seed_table1`` have them at 0, so a budget priced by those sees a window over pages already
private as free (``--unpriced``)."""


def with_unpriced(cost: CostModel, ref: CostModel) -> CostModel:
    """``cost`` with each :data:`UNPRICED` term it has at 0 set at ``ref``'s share of a
    precopied page (``ref.f / ref.precopy_ns`` times ``cost.precopy_ns``): a truth that pays
    for a window's setup and its walk over private pages, which ``cost`` does not price."""
    terms = {f: getattr(ref, f) / ref.precopy_ns * cost.precopy_ns
             for f in UNPRICED if not getattr(cost, f)}
    return replace(cost, name=f"{cost.name} + {ref.name}'s setup/skip", **terms)


def pricing_pairs(names: list[str], kinds: list[str], scales: list[float],
                  unpriced: str | None = None) -> list[tuple[CostModel, CostModel]]:
    """(P, T) for every two named models, then P = T scaled, per T, kind and factor, then,
    with ``unpriced`` (a cost model's name), each T that lacks a window cost against a truth
    T' that has it at that model's shares: P = T (not priced), then P = T' (priced)."""
    models = {n: make_costmodel(n) for n in names}
    pairs = [(models[p], models[t]) for t in names for p in names]
    pairs += [(scaled(models[t], k, s), models[t]) for t in names for k in kinds for s in scales]
    if unpriced is not None:
        ref = make_costmodel(unpriced, "--unpriced")
        for t in names:
            if not all(getattr(models[t], f) for f in UNPRICED):
                truth = with_unpriced(models[t], ref)
                pairs += [(models[t], truth), (truth, truth)]  # unpriced, then priced
    return pairs


def shield_break_even(cost: CostModel) -> float:
    """The break-even hit rate shield64's budget works with under ``cost`` (its clean and
    reserved reads included, as ``GuardedPolicy.for_cost`` prices a copy)."""
    pol = make_policy("shield64")
    assert isinstance(pol, GuardedPolicy) and pol.budget_spec is not None
    priced = pol.deployed_under(cost)
    assert isinstance(priced, GuardedPolicy)
    return break_even(priced.gain, priced.loss)


def window_ns(cost: CostModel, ev: SimEvents) -> np.ndarray:
    """What each demand fault's precopy work costs under ``cost`` (already :meth:`~cowrl.
    policies.base.Policy.priced`: a copy with its clean): the module's ``work_ns`` of the
    window, 0 where none was queued (k = 0). Its copies are ``precopied`` (exact but under a
    ``CopyWholeHuge`` THP model, which counts a huge page's other pages there too);
    ``skipped``, the private pages its walk steps over (a GUARDED walk stops after the last
    page its decision read shared)."""
    return (ev.work * cost.precopy_setup_ns + ev.precopied * cost.precopy_ns
            + ev.skipped * cost.precopy_skip_ns)


@dataclass(frozen=True)
class PriceCheck:
    """The run-time price check of docs/policies.md ("A run-time price check"): after each
    window, once ``min_windows`` were measured, trip when the measured work of the windows
    over P's price of them exceeds the measured demand copies over P's ``copy_ns`` by a
    factor ``1 + tol``; then k = 0 for the rest of the process. ``noise``: each measurement
    times a lognormal factor (median 1) of the true model's ``noise.sigma``."""

    tol: float
    min_windows: int
    noise: bool = True
    stat: str = "sum"
    """``sum``: sums of ns (a window weighs by its size); ``mean``: means of each
    measurement's ratio to its price, capped at :data:`CHECK_CAP` (a window priced at 0
    counts the cap; one that measured 0 too is no evidence, not counted): every measurement
    weighs alike."""

    def trip(self, ev: SimEvents, priced: CostModel, truth: CostModel, seed: int) -> int | None:
        """The index of the demand fault after whose window the check trips, or None.
        ``priced`` and ``truth``: P and T as the policy pays them (``Policy.priced``)."""
        n = ev.k.shape[0]
        w_meas, w_price = window_ns(truth, ev), window_ns(priced, ev)
        demand = (ev.thp_first == 0).astype(np.float64)  # a THP first fault also splits
        d_meas = demand * truth.copy_ns
        if self.noise and truth.noise.sigma > 0:
            rng = np.random.default_rng(seed)
            w_meas = w_meas * rng.lognormal(0.0, truth.noise.sigma, n)
            d_meas = d_meas * rng.lognormal(0.0, truth.noise.sigma, n)
        work = ev.work.astype(bool)
        due = work & (np.cumsum(work) >= self.min_windows)
        if self.stat == "mean":  # each window's and each demand fault's ratio, capped
            rw = np.where(w_price > 0, np.minimum(w_meas / np.where(w_price > 0, w_price, 1),
                                                  CHECK_CAP), CHECK_CAP)
            seen = work & ((w_price > 0) | (w_meas > 0))  # 0 measured, 0 priced: no evidence
            rd = np.minimum(d_meas / priced.copy_ns, CHECK_CAP)
            mw = np.cumsum(np.where(seen, rw, 0.0)) / np.maximum(np.cumsum(seen), 1)
            md = np.cumsum(rd) / np.maximum(np.cumsum(demand), 1)
            tripped = due & (mw > (1 + self.tol) * md)
        else:
            w, wp = np.cumsum(w_meas), np.cumsum(w_price)
            d, nd = np.cumsum(d_meas), np.cumsum(demand)
            tripped = due & (w * nd * priced.copy_ns > (1 + self.tol) * wp * d)
        return int(np.argmax(tripped)) if tripped.any() else None


def simulate_checked(trace: Trace, pol: Policy, p_cost: CostModel, t_cost: CostModel,
                     check: PriceCheck, seed: int) -> tuple[RunRecord, bool]:
    """``simulate(trace, pol, t_cost)`` under ``check`` (``pol`` priced by ``p_cost``), and
    whether it tripped. The run is the unchecked one up to the fault where the check trips
    (its latencies, the proof reads included), then the same page state with k = 0 at every
    later fault (replayed in compiled code from the same degrees; the decision still
    charged, no proof read)."""
    rec, ev = simulate(trace, pol, t_cost, record_events=True)
    f = check.trip(ev, pol.priced(p_cost), pol.priced(t_cost), seed)
    if f is None:
        return rec, False
    run = pol.for_trace(trace, t_cost)
    engine = ReplayEngine(run.priced(t_cost), thp=run.thp, decided=bool(decides(run)),
                          program=run.decide_program, trim=trims(run))
    engine.reset(trace)
    degrees = np.zeros(max(int(np.count_nonzero(engine.written)), f + 1), dtype=np.int64)
    degrees[:f + 1] = ev.k[:f + 1]
    res = engine.run_degrees(degrees, record=True)
    assert res.events is not None
    again = SimEvents.from_table(res.events)
    for col in ("page", "k", "window", "skipped"):  # the same run up to the trip
        assert np.array_equal(getattr(again, col)[:f + 1], getattr(ev, col)[:f + 1]), col
    return replace(rec, faults=res.faults, precopied=res.precopied, wasted=res.wasted,
                   fault_ns=np.concatenate([rec.fault_ns[:f + 1], res.fault_ns[f + 1:]])), True


def traces_of(draws: int, corpus: int | None) -> list[Trace]:
    """``draws`` development draws of every family, then the recorded corpus (its first
    ``corpus`` files by size, smallest first, when given)."""
    files = sorted(CORPUS.glob("*.npz"))
    if not files:
        raise ConfigError(f"corpus: no *.npz in {CORPUS}")
    if corpus is not None:
        files = sorted(files, key=lambda f: f.stat().st_size)[:corpus]
    return [*draws_of(g.FAMILIES, draws), *(load_trace(f) for f in files)]


def policy_of(spec: str) -> Policy:
    """``spec``: a saved artifact directory (``train.py out=DIR``) or a conf/policy name; one
    that cannot be priced by a cost model (no ``deployed_under``) is refused."""
    if Path(spec).is_dir():
        return load_policy(spec)
    if spec not in available("policy"):
        raise ConfigError(f"--policy: {spec!r} is neither a directory nor a conf/policy name "
                          f"({', '.join(available('policy'))})")
    pol = make_policy(spec)
    if getattr(pol, "trainer", None) is not None:  # untrained: what would be measured is not it
        raise ConfigError(f"--policy: {spec} learns; train it first (train.py policy={spec} "
                          "out=DIR) and give DIR")
    return pol


def label(t: Trace) -> str:
    """A development draw by family and seed (every draw is named ``rand0``), a recording by
    its name."""
    if "sampler_seed" in t.meta:
        return f"{t.meta['family']} (seed {t.meta['sampler_seed']})"
    return t.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--costmodels", nargs="+",
                    default=[n for n in available("costmodel") if n != "auto"])
    ap.add_argument("--draws", type=int, default=8, help="development draws per family")
    ap.add_argument("--corpus", type=int, default=None,
                    help="only the N smallest recordings of data/traces (default: all)")
    ap.add_argument("--kinds", nargs="*", default=list(SCALED), choices=list(SCALED))
    ap.add_argument("--scales", nargs="*", type=float, default=[1.25, 0.95, 0.9, 0.8, 0.67, 0.5],
                    help="factors for P = T scaled (s < 1: copies 1/s x dearer than priced, "
                         "s > 1: cheaper)")
    ap.add_argument("--unpriced", default="tcg",
                    help="also run each model that has no window setup/skip cost against a "
                         "truth that has them, at this model's shares of a page copy ('' off)")
    ap.add_argument("--policy", default="shield64",
                    help="a conf/policy name or a saved artifact directory (train.py out=DIR)")
    ap.add_argument("--own-prices", default=None, metavar="NAME",
                    help="for a policy whose prices P cannot change (a PPO/DQN saved without "
                         "guard_lam keeps those it was trained with): that cost model; only "
                         "the pairs with P = NAME are run, and each scaled error as a truth "
                         "dearer by "
                         "1/s instead ('NAME precopy /0.9': the truth's precopy / 0.9)")
    ap.add_argument("--check", action="store_true",
                    help="the run-time price check (a simulator study; docs/policies.md)")
    ap.add_argument("--check-tol", type=float, default=None,
                    help="trip when measured/priced window work exceeds measured/priced "
                         "demand copies by 1 + this (default per --check-stat)")
    ap.add_argument("--check-min", type=int, default=None,
                    help="windows measured before the check may trip (default per "
                         "--check-stat)")
    ap.add_argument("--check-stat", default="sum", choices=["sum", "mean"],
                    help="sum: ratio of summed ns; mean: mean of each measurement's capped "
                         "ratio to its price")
    ap.add_argument("--check-noiseless", action="store_true",
                    help="measurements without T's calibrated noise")
    ap.add_argument("--quick", action="store_true",
                    help="CI settings: 1 draw per family, the 2 smallest recordings")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.corpus = 1, 2
    check_draws(args.draws)
    if any(not 0 < s for s in args.scales):
        raise ConfigError(f"--scales: factors must be > 0, got {args.scales}")
    tol, least = CHECK_DEFAULTS[args.check_stat]
    args.check_tol = tol if args.check_tol is None else args.check_tol
    args.check_min = least if args.check_min is None else args.check_min
    if args.check_tol < 0 or args.check_min < 1:
        raise ConfigError(f"--check-tol must be >= 0 and --check-min >= 1, got "
                          f"{args.check_tol} and {args.check_min}")
    check = (PriceCheck(args.check_tol, args.check_min, not args.check_noiseless,
                        args.check_stat) if args.check else None)
    policy = policy_of(args.policy)  # before any trace is drawn
    pairs = pricing_pairs(args.costmodels, args.kinds, args.scales, args.unpriced or None)
    if policy.deployed_under(pairs[0][0]) is policy and args.own_prices is None:
        raise ConfigError(f"--policy: {args.policy} does not follow the prices P (a trained "
                          "PPO/DQN saved without guard_lam keeps those it was trained with): "
                          "give --own-prices "
                          "NAME, the cost model it was priced with")
    if args.own_prices is not None:
        own = {p.name: p for p, _ in pairs}.get(args.own_prices)
        if own is None:
            raise ConfigError(f"--own-prices: no pair with P = {args.own_prices!r}")
        # P cannot be scaled: the same error as a truth dearer by 1/s, named "own kind /s"
        pairs = [(p, t) for p, t in pairs if p.name == own.name] + [
            (own, replace(scaled(own, k, 1 / s), name=f"{own.name} {k} /{s:g}"))
            for k in args.kinds for s in args.scales]
    traces = traces_of(args.draws, args.corpus)
    base: dict[tuple[str, int], float] = {}  # baseline's objective, per true model and trace
    for cost in {t.name: t for _, t in pairs}.values():
        for i, t in enumerate(traces):
            base[cost.name, i] = objective(simulate(t, StaticPrecopy(0), cost), 1.0,
                                           cost.page_cost_ns)
    safety = TARGETS["safety"]
    print(f"{args.policy} priced by P, run with T's costs: {len(traces)} traces ({args.draws} "
          f"development draws x {len(g.FAMILIES)} families, seeds 2000.., and "
          f"{len(traces) - args.draws * len(g.FAMILIES)} recordings of data/traces); ratio = "
          f"objective / baseline's under T, lambda 1; break-even = hit rate a copy needs "
          f"(above {MAX_BREAK_EVEN:.4f}: inert, k = 0)")
    if check is not None:
        print(f"With the run-time price check: {check.stat}, tau = {check.tol:g}, "
              f"M = {check.min_windows} windows, measurement noise "
              f"{'on' if check.noise else 'off'}")
    print()
    print("| P (prices) | T (truth) | gain | worst ratio | worst trace | copied | wasted "
          f"| break-even P / T | worst <= {safety:.2f} |" + (" tripped |" if check else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if check else ""))
    worst: dict[tuple[str, str], float] = {}
    for p_cost, t_cost in tqdm(pairs, desc="pairs", file=sys.stderr):
        pol = policy.deployed_under(p_cost)  # the budget constants of P, fixed
        ratios, copied, wasted, tripped = [], 0, 0, 0
        for i, t in enumerate(traces):
            if check is None:
                rec = simulate(t, pol, t_cost)
            else:
                rec, trip = simulate_checked(t, pol, p_cost, t_cost, check, i)
                tripped += trip
            ratios.append(objective(rec, 1.0, t_cost.page_cost_ns) / base[t_cost.name, i])
            copied += rec.precopied
            wasted += rec.wasted
        w = max(range(len(traces)), key=ratios.__getitem__)
        worst[p_cost.name, t_cost.name] = ratios[w]
        where = label(traces[w]) if ratios[w] > 1 else "none above 1"
        print(f"| {p_cost.name} | {t_cost.name} | {geomean_gain(ratios):+.2f}% | "
              f"{ratios[w]:.3f} | {where} "
              f"| {copied} | {wasted} | {shield_break_even(p_cost):.3f} / "
              f"{shield_break_even(t_cost):.3f} | {'yes' if ratios[w] <= safety else 'NO'} |"
              + (f" {tripped} / {len(traces)} |" if check else ""), flush=True)
    print()
    print(f"Margin: per true model and kind of error, the scaled prices under which the worst "
          f"trace stays within {safety:.2f} x baseline, and the first that breaks it")
    for t_name in [args.own_prices] if args.own_prices else args.costmodels:
        for kind in args.kinds:
            held, broke = [], None
            for s in sorted(args.scales, reverse=True):
                r = (worst[t_name, f"{t_name} {kind} /{s:g}"] if args.own_prices
                     else worst[f"{t_name} {kind} x{s:g}", t_name])
                if r > safety:
                    broke = f"x{s:g} ({r:.3f})"
                    break
                held.append(f"x{s:g}")
            print(f"  T = {t_name}, {kind}: holds at {', '.join(held) or 'none'}; "
                  f"breaks at {broke or 'none tested'}")


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
