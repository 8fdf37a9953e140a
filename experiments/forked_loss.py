"""Where the oracle gains and ``shield64`` loses on forked traces (a diagnosis, session 37).

    python experiments/forked_loss.py [--traces cpython_pool,perl_sessions,cpython_statedump]
        [--costmodels seed_table1 host] [--corpus data/traces]

Nothing is learned, tuned or changed: every policy runs as shipped. Per trace and cost model
(lambda 1, "baseline" = k = 0 on the same trace and cost model;
docs/results/forked-loss-s37.md reads the output):

- ``policies``: baseline, shield64, guarded (its learned table), readahead, precopy_best and
  the oracle in the one-address
  layout (``simulate(shared=True)``, as eval.py ``layout=one_address``): faults, pages
  precopied and wasted, COW time per write (``cow_ns / writes``), total COW time, objective /
  baseline's;
- ``oracle``: the oracle's copied pages by how soon the process that copied each writes it
  (its own writes between the copying fault and that write; ``never``: not written), each
  bucket's gross gain (pages x the page's gain) and the never-written pages' loss (pages x
  the page's loss), as shares of baseline's objective (``CostModel.page_prices``);
- ``shield64``: its objective minus baseline's, split into the copies later written (their
  faults saved less their copies), the copies never written (their copies, and the waste
  penalty), and the proof look's walk and reads, by kind (each at the cost model's price, as
  the engine charges them); then its decisions: shut by the floor (the fault's class has a
  sentinel hit rate below ``floor``), short of budget (no degree's worst case fits), opened;
  the budget at the short ones, and the allowances granted (the bound on its loss);
- ``what-if``: diagnostics, not rules (:func:`whatif`): shield64 with the proof look's walk
  free, with its reads neither reserved nor paid by the budget, and with a constant table of
  8, 4, 2, 1;
- ``cells``: a hindsight bound for adjacent windows decided by two things a fault can see
  (how many of the 3 pages below are private, and whether the process's previous fault was
  on the page below): per cell the degree k in 1, 2, 3, 4, 8, 16 with the largest known net
  gain at the baseline's page state (a window page counts its gain if the process writes it
  later, its loss if never; interactions between windows ignored), priced at the objective's
  page prices and at the risk budget's (``GuardedPolicy`` gain / loss: the worst-case reserve
  with its proof reads). An upper bound for any table over these cells, not a policy.

shield64's decomposition is replayed with the Python prototype (``fast=False``'s path, one
decision at a time); the script checks that its faults, pages precopied and wasted and the
latencies' sum equal the compiled program's (``simulate``) and fails if not.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import RunRecord, objective  # noqa: E402
from cowrl.paths import project_path  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.engine import ReplayEngine  # noqa: E402
from cowrl.sim.simulator import decides, simulate, trims  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

TRACES = ("cpython_pool", "perl_sessions", "cpython_statedump")
POLICIES = ("baseline", "shield64", "guarded", "readahead", "precopy_best", "oracle")
BUCKETS = ((1, 1), (2, 3), (4, 16), (17, 256), (257, 4096), (4097, 1 << 62))
"""Delay buckets, in the copying process's own writes."""
DEGREES = (1, 2, 3, 4, 8, 16)
LOOK = ("unproven reads", "empty steps", "live skips", "jumps", "due jumps", "due scans")


def first_writes(t: Trace) -> np.ndarray:
    """Per page, the index of its first write (``len(t.pages)``: never written)."""
    n = len(t.pages)
    fw = np.full(t.n_pages, n, dtype=np.int64)
    fw[t.pages[::-1]] = np.arange(n, dtype=np.int64)[::-1]
    return fw


def own_rank(t: Trace) -> np.ndarray:
    """Per write, its rank among its writer's writes (one writer if the trace has none)."""
    w = t.writer if t.writer is not None else np.zeros(len(t.pages), dtype=np.int64)
    rank = np.zeros(len(t.pages), dtype=np.int64)
    for x in np.unique(w):
        m = w == x
        rank[m] = np.arange(int(m.sum()))
    return rank


def copy_delays(t: Trace, events: np.ndarray) -> list[tuple[int, int]]:
    """For each page a run's windows copied (``events``: ``SimEvents`` rows, the distinct
    layout, where a page index is one process's page): the page, and its copying process's own
    writes until the page's first write (-1 if never written). A window page is copied if it
    is neither written before the window nor copied by an earlier window."""
    fw, rank, n = first_writes(t), own_rank(t), len(t.pages)
    seen: set[int] = set()
    out: list[tuple[int, int]] = []
    for row in events:
        wi, page, win = int(row[0]), int(row[1]), int(row[5])
        for q in range(page + 1, page + win + 1):
            if fw[q] < wi or q in seen:
                continue
            seen.add(q)
            out.append((q, -1 if fw[q] >= n else int(rank[fw[q]] - rank[wi])))
    return out


def delay_table(delays: list[int]) -> dict[str, int]:
    """``delays`` counted in :data:`BUCKETS` (keys ``lo..hi``, the last ``lo+``) and
    ``never`` (-1)."""
    d = np.asarray(delays, dtype=np.int64)
    out = {(f"{lo}..{hi}" if hi < BUCKETS[-1][1] else f"{lo}+"): int(((d >= lo) & (d <= hi)).sum())
           for lo, hi in BUCKETS}
    out["never"] = int((d < 0).sum())
    return out


def policy_rows(t: Trace, cost: CostModel) -> dict[str, dict[str, float]]:
    """:data:`POLICIES` on ``t`` in the one-address layout: counts, COW ns per write, COW ms,
    objective / baseline's."""
    rows: dict[str, dict[str, float]] = {}
    for name in POLICIES:
        r = simulate(t, make_policy(name), cost, shared=True)
        assert isinstance(r, RunRecord)
        cow = float(np.sum(r.fault_ns))
        rows[name] = dict(faults=r.faults, precopied=r.precopied, wasted=r.wasted,
                          per_write=cow / t.writes, cow_ms=cow / 1e6,
                          objective=objective(r, 1.0, cost.page_cost_ns))
    b = rows["baseline"]["objective"]
    for r in rows.values():
        r["ratio"] = r["objective"] / b
    return rows


def shield_replay(t: Trace, cost: CostModel, name: str = "shield64") -> dict[str, Any]:
    """``name`` replayed with the Python prototype in the one-address layout, one decision at
    a time (``simulate``'s ``fast=False`` path), counting per fault what the engine charges
    and why ``k = 0``."""
    policy: Any = make_policy(name).for_trace(t, cost)
    priced = policy.priced(cost)
    policy.reset(t.n_pages)
    engine = ReplayEngine(priced, thp=policy.thp, decided=bool(decides(policy)),
                          program=policy.decide_program, trim=trims(policy), shared=True)
    engine.reset(t)
    look = np.zeros(len(LOOK))
    ns = wasted = copied = 0.0
    closed = short = opened = faults = 0
    short_budget: list[int] = []
    ctx = engine.context
    while ctx is not None:
        c = policy.fault_cell(ctx)
        floor_shut = policy.ctx.use[c.cls] < policy.floor
        budget = policy.budget
        k = int(policy.act(c, ctx))
        look[0] += ctx.unproven_reads[0]
        look[1:] += ctx.proof_walk[:5]
        ev = engine.apply(k)
        policy.observe(ctx, ev)
        faults += 1
        ns += ev.fault_ns
        copied += ev.precopied
        wasted += ev.wasted
        if k > 0:
            opened += 1
        elif floor_shut:
            closed += 1
        else:
            short += 1
            short_budget.append(budget)
        ctx = engine.context
    ref = simulate(t, make_policy(name), cost, shared=True)
    assert isinstance(ref, RunRecord)
    got = (faults, int(copied), int(wasted))
    if got != (ref.faults, ref.precopied, ref.wasted) or abs(ns - float(np.sum(ref.fault_ns))) \
            > 1e-6 * ns:
        raise RuntimeError(f"{t.name}: the prototype's replay {got}, {ns} ns differs from the "
                           f"compiled program's {(ref.faults, ref.precopied, ref.wasted)}, "
                           f"{float(np.sum(ref.fault_ns))} ns")
    prices = np.array([priced.proof_read_ns, priced.proof_step_ns, priced.proof_skip_ns,
                       priced.proof_jump_ns, priced.proof_duejump_ns, priced.proof_duescan_ns])
    return dict(faults=faults, copied=int(copied), wasted=int(wasted), cow_ns=ns,
                look_n=look, look_ns=look * prices, closed=closed, short=short,
                opened=opened, short_budget=np.asarray(short_budget, dtype=np.int64),
                granted=float(policy.granted), gain=policy.gain, loss=policy.loss,
                copy_ns=priced.precopy_ns + priced.proof_clean_ns,
                foreign=policy.ctx.proof_other, notdue=policy.ctx.proof_skips,
                proven=policy.ctx.proven)


def cell_bound(t: Trace, gain: float, loss: float) -> list[tuple[str, int, int, float, float]]:
    """The hindsight bound (module docstring, ``cells``) at page prices ``gain`` / ``loss``:
    per cell (name, faults, best k, its precision, its net gain in ns); k = 0 if none gains."""
    fw, n = first_writes(t), len(t.pages)
    pages = t.pages
    sizes = t.region_sizes if t.region_sizes is not None else np.array([t.n_pages])
    ends = np.cumsum(sizes)
    starts = ends - sizes
    faults = np.nonzero(fw[pages] == np.arange(n))[0]
    fp = pages[faults]
    reg = np.searchsorted(ends, fp, side="right")
    left = np.zeros(len(faults), dtype=np.int64)
    for d in (1, 2, 3):
        ok = fp - d >= starts[reg]
        left += ok & (fw[np.where(ok, fp - d, 0)] < faults)
    w = t.writer if t.writer is not None else np.zeros(n, dtype=np.int64)
    prev = np.full(len(faults), -(1 << 40), dtype=np.int64)
    last: dict[int, int] = {}
    for i, f in enumerate(faults.tolist()):
        x = int(w[f])
        prev[i] = last.get(x, -(1 << 40))
        last[x] = int(pages[f])
    below = (fp - prev == 1).astype(np.int64)
    out = []
    for cell in range(8):
        m = left * 2 + below == cell
        if not m.any():
            continue
        best = (0.0, 0, 0.0)
        for k in DEGREES:
            used = unused = 0
            for d in range(1, k + 1):
                q = fp[m] + d
                ok = q < ends[reg[m]]
                qq = np.where(ok, q, 0)
                shared = ok & (fw[qq] > faults[m])
                used += int((shared & (fw[qq] < n)).sum())
                unused += int((shared & (fw[qq] >= n)).sum())
            net = used * gain - unused * loss
            if net > best[0]:
                best = (net, k, used / max(used + unused, 1))
        out.append((f"left{cell // 2}{'+below' if cell % 2 else ''}", int(m.sum()), best[1],
                    best[2], best[0]))
    return out


WALK_PRICES = ("proof_step_ns", "proof_skip_ns", "proof_jump_ns", "proof_duejump_ns",
               "proof_duescan_ns")
"""The look's walk prices (not its reads), zeroed by :func:`whatif`."""


def whatif(t: Trace, cost: CostModel) -> list[tuple[str, float, int, int]]:
    """Two diagnostics, not rules (picking one here would tune on the trace): shield64 (one-address
    layout) with the look's walk free (:data:`WALK_PRICES` 0 in the cost model: the engine
    charges nothing and the budget, whose walk prices come from them, pays nothing), with a
    budget that neither reserves the ``proof_ttl`` reads of each copy nor pays the reads
    (page gain / loss from ``cost.with_clean(0)``, ``read_ns`` 0; the engine still charges
    them: an upper bound for paying each read as it happens, which keeps the bound), and
    shield64 with a constant table of 8, 4, 2, 1 instead of 64. Per variant: objective /
    baseline's, pages precopied, wasted."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config

    base = simulate(t, make_policy("baseline"), cost)
    assert isinstance(base, RunRecord)
    b = objective(base, 1.0, cost.page_cost_ns)
    runs: list[tuple[str, Any, CostModel]] = [
        ("as shipped", make_policy("shield64"), cost),
        ("walk free", make_policy("shield64"),
         dataclasses.replace(cost, **{f: 0.0 for f in WALK_PRICES}))]
    # the budget without the proof_ttl reads each copy reserves, and not paying the reads
    # (the engine still charges them): an upper bound for paying each read as it happens
    free: Any = make_policy("shield64").for_trace(t, cost)
    free.gain, free.loss = (int(v) for v in cost.with_clean(0).page_prices(
        1.0, free.decide_program))
    free.read_ns, free.budget_spec = 0, None
    runs.append(("reads unreserved", free, cost))
    for k in (8, 4, 2, 1):
        cfg = OmegaConf.to_container(group_config("policy", "shield64", "policy"), resolve=False)
        assert isinstance(cfg, dict)
        cfg.update(table=k, name=f"shield{k}")
        runs.append((f"table {k}", make_policy(cfg), cost))
    out = []
    for label, pol, c in runs:
        r = simulate(t, pol, c, shared=True)
        assert isinstance(r, RunRecord)
        out.append((label, objective(r, 1.0, c.page_cost_ns) / b, r.precopied, r.wasted))
    return out


def pct(x: float, base: float) -> str:
    return f"{100 * x / base:+.2f}%"


def report(t: Trace, cost: CostModel) -> None:
    """Print the four sections for ``t`` under ``cost``."""
    tag = f"{cost.name} {t.name}"
    rows = policy_rows(t, cost)
    base = rows["baseline"]["objective"]
    print(f"{tag} policies: {'policy':<13} {'faults':>7} {'copied':>7} {'wasted':>7} "
          f"{'ns/write':>9} {'cow ms':>9} {'obj/base':>9}")
    for name, r in rows.items():
        print(f"{tag} policies: {name:<13} {r['faults']:>7} {r['precopied']:>7} "
              f"{r['wasted']:>7} {r['per_write']:>9.1f} {r['cow_ms']:>9.3f} {r['ratio']:>9.4f}")
    gain, loss = cost.page_prices(1.0)
    orc = make_policy("oracle").for_trace(t, cost)
    rec = simulate(t, orc, cost, record_events=True)
    assert isinstance(rec, tuple)
    delays = copy_delays(t, np.column_stack([rec[1].write_index, rec[1].page, rec[1].k,
                                             rec[1].precopied, rec[1].thp_first,
                                             rec[1].window]))
    if len(delays) != rec[0].precopied:
        raise RuntimeError(f"{tag}: {len(delays)} copies counted, the oracle made "
                           f"{rec[0].precopied}")
    net = base - objective(rec[0], 1.0, cost.page_cost_ns)
    for key, cnt in delay_table([d for _, d in delays]).items():
        val = -cnt * loss if key == "never" else cnt * gain
        print(f"{tag} oracle: copies written after {key:<9} {cnt:>6} pages "
              f"{val / 1e6:>+8.3f} ms {pct(val, base)}")
    print(f"{tag} oracle: net gain {net / 1e6:+.3f} ms {pct(net, base)} (the oracle's choice: "
          f"{rec[0].extra.get('oracle_choice')})")
    sizes = t.region_sizes if t.region_sizes is not None else np.array([t.n_pages])
    ends = np.cumsum(sizes)
    by_reg: dict[int, float] = {}
    for q, d in delays:
        r = int(np.searchsorted(ends, q, side="right"))
        by_reg[r] = by_reg.get(r, 0.0) + (gain if d >= 0 else -loss)
    top = sorted(by_reg.items(), key=lambda kv: -kv[1])[:4]
    writers = t.region_writers if t.region_writers is not None else np.zeros(len(sizes), int)
    print(f"{tag} oracle: by region (of {len(sizes)}; pages, writer): " + "; ".join(
        f"r{r} ({int(sizes[r])}, w{int(writers[r])}) {pct(v, base)}" for r, v in top))
    s = shield_replay(t, cost)
    fault = cost.fault_ns + cost.copy_ns
    useful = s["copied"] - s["wasted"]
    parts = [("copies written later", -useful * (fault - s["copy_ns"])),
             ("copies never written", s["wasted"] * s["copy_ns"]),
             ("their waste penalty", s["wasted"] * cost.page_cost_ns)]
    parts += [(f"look: {k}", float(v)) for k, v in zip(LOOK, s["look_ns"], strict=True) if v]
    for key, val in parts:
        print(f"{tag} shield64: {key:<22} {val / 1e6:>+8.3f} ms {pct(val, base)}")
    total = sum(v for _, v in parts)
    print(f"{tag} shield64: {'total':<22} {total / 1e6:>+8.3f} ms {pct(total, base)} "
          f"(objective - baseline's: {pct(rows['shield64']['objective'] - base, base)}); "
          f"allowances granted {s['granted'] / 1e6:.3f} ms {pct(s['granted'], base)}")
    sb = s["short_budget"]
    print(f"{tag} shield64: decisions {s['faults']}: floor shut {s['closed']}, budget short "
          f"{s['short']} (budget median {float(np.median(sb)) if sb.size else 0:.0f} ns, one "
          f"page's reserve {s['loss']} ns), opened {s['opened']}; copied {s['copied']}, "
          f"wasted {s['wasted']}; page gain / loss: objective {gain:.0f} / {loss:.0f} "
          f"(break-even {loss / (gain + loss):.3f}), budget {s['gain']} / {s['loss']} "
          f"(break-even {s['loss'] / (s['gain'] + s['loss']):.3f}); live skips: another "
          f"region's or process's {s['foreign']}, not yet due {s['notdue']}; proven {s['proven']}")
    print(f"{tag} what-if: " + "; ".join(f"{lab} {r:.4f} ({c} copied, {w} wasted)"
                                          for lab, r, c, w in whatif(t, cost)))
    for label, g, lo in (("objective", gain, loss), ("budget", s["gain"], s["loss"])):
        cells = cell_bound(t, g, lo)
        tot = sum(c[4] for c in cells)
        print(f"{tag} cells ({label} prices): bound {pct(tot, base)}; " + "; ".join(
            f"{c[0]} {c[1]}f k{c[2]}" + (f" p{c[3]:.2f} {pct(c[4], base)}" if c[2] else "")
            for c in cells))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", default=",".join(TRACES))
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--corpus", default=None, help="directory of the .npz (data/traces)")
    args = ap.parse_args()
    corpus = Path(args.corpus) if args.corpus else project_path("data/traces")
    traces = []
    for name in (x for x in args.traces.split(",") if x):
        path = corpus / f"{name}.npz"
        if not path.is_file():
            raise ConfigError(f"--traces: no trace {name!r} in {corpus}")
        traces.append(load_trace(path))
    if not traces:
        raise ConfigError("--traces: no trace named")
    for cname in args.costmodels:
        cost = make_costmodel(cname)
        for t in traces:
            report(t, cost)
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
