"""Block-strided writes under ``guarded``: where the gain is lost, and two block rules (a
simulator study, session 29; docs/results/block-stride-s29.md).

    python experiments/block_rule.py diagnose [--families block_stride dense_chunks] \
        [--costmodels seed_table1 host] [--draws 8] [--first 2000]
    python experiments/block_rule.py measure [--first 3000] [--draws 3] \
        [--policies guarded R1 R2 R3 R4]
    python experiments/block_rule.py bound [--costmodels seed_table1 host] [--policies R3 R4]

Development draws only (``g.randomized(first + d, 0, families=F)``, seeds 2000+); never the
held-out sets, the validation traces nor the recorded apps.

"The shipped ``guarded``" here is the study's: session 29's, adjacent windows
(conf/policy/guarded_adjacent.yaml, :data:`STUDY`); ``guarded`` ships strided windows and
another table since session 30, which these rules were not built for.

``diagnose``: per draw, the shipped ``guarded`` (conf/policy/guarded.yaml), ``shield64`` (its
options with a table of 64s) and ``hindsight`` (the shipped budget and options, but at each
fault the window *asked for* is the run of pages right after the fault that the trace writes
later, at most 64, its exact degree a candidate as an align value's is: a proposal no rule can
beat, priced and financed by the shipped budget; it reads the future, not deployable), with
the best fixed k of the trace (hindsight) and the oracle; per family also ``free``, the
``hindsight`` decisions priced with no clean and no proof read (what the interior proofs' own
price takes from a perfect proposal); then per family, for ``guarded`` and
``shield64``: the windows opened and the share of them the budget cut below the value asked,
the pages copied and the share wasted against the break-even waste share ``gain / (gain +
loss)`` of the budget's prices, the copies proven and their mean latency (demand faults from
the copy's to the proof's: 1 = proven at the next demand fault), the allowances granted
(demand faults); then guarded_diagnosis.py's modes (``shipped``, ``noalias``, ``instant``,
``truth``) on the same draws: version 2's budget (sentinel credit), a table of 64s, one
obstacle removed by hindsight per mode (that tool drew the protocol's held-out test traces;
here the development draws).

``measure`` (``--per-trace``: also a line per draw): the block rules (:class:`BlockRule`)
against the shipped ``guarded``, per family and pooled, under both cost models, and the
verdict of the rule declared before the run (docs/results/block-stride-s29.md): pooled gain >=
guarded's + 0.3 point, worst draw <= 1.010, no family below guarded's by more than 0.3 point,
block_stride >= guarded's + 3 points, under both cost models.

The rules: R1 caps the window asked for at the rest of a confirmed block, R2 sets it to it;
both measure every finished run (up to 16 dirty bits at every forward jump that follows a
window). R3 and R4 (cheaper trackers, session 29's second helper) cap as R1 but measure a run
only where the faults alone show a block candidate (the start-to-start period of two runs
started by forward jumps equals the one before) or a block is confirmed, only if the run's
last window copied something, and count a written last page only if its left neighbour is
written too (a column-major stride writer's windows end on written pages with unwritten ones
inside); R3 then reads up to 16 dirty bits, R4 at most two (the predicted block end, or the
window's end, and its left neighbour). R3 and R4 keep one tracker per region bucket
(``region_bucket``, 16, tagged with the region's start), R1 and R2 one per region.

``bound``: objective - objective of the same options with a table of zeros - allowances
granted (demand faults; <= 1 ns a page = the bound holds), tables of 64s and 1s, the rules of
``--policies`` (default R1 and R2),
on guarded_proof_bound.py's traces, two block_stride writers and five adversarial block
writers (a run cut to its first page once confirmed, a block's last page skipped every third
block, random gaps, random block lengths, the rest of every other pair of blocks written a
pass later).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cowrl.policies.guarded as guarded  # noqa: E402
from cowrl.devdraws import add_draw_arguments, check_draws, check_first, development_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.best_static import BestStatic  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    N_CELLS,
    PAGE_WRITTEN,
    SENTINELS,
    Cell,
    GuardedPolicy,
    align_degree,
    break_even,
    is_align,
    region_bucket,
    shipped_options,
)
from cowrl.policies.oracle import Oracle  # noqa: E402
from cowrl.policies.static import Baseline, StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

STUDY = "guarded_adjacent"  # the conf/policy file of the study's shipped guarded (module docstring)
MAX_READS = 16  # dirty bits a block measurement reads at most
RULES = {"R1": "cap", "R2": "set", "R3": "cap", "R4": "cap"}
GATED = {"R3": MAX_READS, "R4": 2}  # gated by the faults' periods; dirty bits read at most
MARGIN, WORST, FAMILY_LOSS, BLOCK_GAIN = 0.3, 1.010, 0.3, 3.0  # the declared rule


class Hindsight(GuardedPolicy):
    """The shipped budget, asked at each fault for the run of pages after it that the trace
    writes later (at most 64; the exact degree a candidate): a proposal no rule can beat."""

    last: np.ndarray
    write_index = 0

    def replay_program(self) -> None:
        return None

    def for_trace(self, trace: Trace, cost: Any, seed: int | None = None) -> Hindsight:
        self.last = np.full(trace.n_pages, -1, dtype=np.int64)
        self.last[trace.pages] = np.arange(trace.writes)
        return self

    def fault_cell(self, ctx: FaultContext) -> Cell:
        self.write_index = ctx.write_index
        return super().fault_cell(ctx)

    def degree(self, c: Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        n, o = 0, self.ctx.off
        while n < 64 and page + n + 1 < limit and self.last[page + n + 1 - o] > self.write_index:
            n += 1
        return exact_degree(self, c, page, limit, n)


def window_asked(pol: GuardedPolicy, c: Cell, page: int, want: int | None = None,
                 vpn: int | None = None) -> int:
    """The window asked for at ``page``: ``want``, by default the table's value of ``c``'s
    cell, an align value resolved at ``vpn`` (default ``page``)."""
    w = pol.table[c.cell] if want is None else want
    return align_degree(w, page if vpn is None else vpn) if is_align(w) else w


def exact_degree(pol: GuardedPolicy, c: Cell, page: int, limit: int, want: int
                 ) -> tuple[int, int]:
    """The largest of the degrees below ``want`` and ``want`` itself whose reserve fits the
    budget (as for an align value), 0 under the floor; and the pages it copies."""
    if want <= 0 or pol.ctx.use[c.cls] < pol.floor:
        return 0, 0
    for d in reversed((*(d for d in pol.degrees if 0 < d < want), want)):
        copied = pol.ctx.shared_in_window(page, d, limit)
        if copied * pol.reserve(c.cls) + pol.fixed(page, d, copied, limit) <= pol.budget:
            return d, copied
    return 0, 0


class BlockRule(GuardedPolicy):
    """A block tracker per region (integer state: run start, last demand fault, window end,
    block length, gap, confirmations). At a forward jump past the window end the finished
    run's written end is measured from the dirty bits of its copies (the window's last page
    first, then forward from the last demand fault; at most :data:`MAX_READS` reads, each paid
    from the budget at ``read_price`` before it is taken, charged by the engine as an unproven
    proof read); a run of the same length (>= 2) and gap as the one before confirms. At a
    fault inside a confirmed block the window asked for is capped at the rest of the block
    (``mode = "cap"``, R1; 0 at its last page) or set to it (``"set"``, R2); a window that
    ends at the predicted block end leaves its sentinel at the predicted next block start
    instead of in the gap. Credit and reserves are the shipped budget's: the bound holds for
    any proposal."""

    def __init__(self, *a: Any, mode: str = "cap", read_price: int = 0, gate: bool = False,
                 max_reads: int = MAX_READS, **kw: Any) -> None:
        super().__init__(*a, **kw)
        if mode not in ("cap", "set"):
            raise ConfigError(f"mode must be cap or set, got {mode!r}")
        self.mode, self.read_price = mode, int(read_price)
        self.gate, self.max_reads = gate, int(max_reads)
        self.tracks: dict[int, list[int]] = {}
        self.track = [-1, -1, -1, 0, 0, 0, 0, 0]
        self.predicted: int | None = None
        self.block_reads = self.capped = self.moved = self.copied = 0

    @classmethod
    def for_rule(cls, cost: CostModel, rule: str, table: Sequence[int]) -> BlockRule:
        """Rule ``rule`` (R1..R4) with the shipped options and ``table``, the reads priced at
        ``ceil(proof_read_ns)``."""
        return cls.for_cost(cost, table=list(table), mode=RULES[rule],
                            read_price=int(np.ceil(cost.proof_read_ns)), gate=rule in GATED,
                            max_reads=GATED.get(rule, MAX_READS), **shipped_options(STUDY))

    def replay_program(self) -> None:
        return None

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.tracks = {}
        self.block_reads = self.capped = self.moved = 0

    def measure_end(self, ctx: FaultContext, lastf: int, end: int, tr: list[int]) -> int:
        """The finished run's last written page (-1: not measured): ``lastf`` if the run's
        last window copied nothing, else read from its copies' dirty bits. Gated rules (R3,
        R4) check a written last page's left neighbour too (a strided writer's windows end
        on written pages with unwritten pages inside: not a block). R4 (``max_reads`` 2):
        ``q`` = the predicted block end if the block's length is known and it lies among the
        copies, else the window's last page; ``q`` and ``q - 1`` written: the run ends at
        ``q``; ``q`` the window's last page, unwritten, ``q - 1`` written: at ``q - 1``; else
        not measured."""
        if end <= lastf:
            return lastf
        state, off = ctx.page_state, ctx.coord_offset
        assert state is not None
        def read(q: int) -> bool | None:
            if self.budget < self.read_price:
                return None
            self.budget -= self.read_price
            self.block_reads += 1
            if ctx.unproven_reads is not None:
                ctx.unproven_reads[0] += 1  # the engine charges it at proof_read_ns
            return bool(state[q - off] == PAGE_WRITTEN)

        if self.max_reads == 2:
            pe = tr[0] + tr[3] - 1 if tr[3] >= 2 else -1
            q = pe if lastf < pe <= end else end
            top = read(q)
            if top is None:
                return -1
            if q - 1 <= lastf:
                return q if top else -1
            left = read(q - 1)
            if top and left:
                return q
            return q - 1 if q == end and left and not top else -1
        if self.gate and end - 1 > lastf:  # a written last page's left neighbour must be too
            top = read(end)
            if top is None:
                return -1
            if top:
                left = read(end - 1)
                return end if left else -1
            lo = lastf + 1
            for q in range(lo, min(end, lo + self.max_reads - 1)):
                w = read(q)
                if w is None:
                    return -1
                if not w:
                    return q - 1
            return end - 1 if end - lo < self.max_reads else -1
        n, e = 0, -1
        for q in (end, *range(lastf + 1, end)):
            if n >= self.max_reads or self.budget < self.read_price:
                break
            n += 1
            self.budget -= self.read_price
            written = state[q - off] == PAGE_WRITTEN
            if q == end and written:
                e = end
                break
            if q != end and not written:
                e = q - 1
                break
        else:
            e = end - 1  # every copy below the end written, the end not
        self.block_reads += n
        if ctx.unproven_reads is not None:
            ctx.unproven_reads[0] += n  # the engine charges them at proof_read_ns
        return e

    def fault_cell(self, ctx: FaultContext) -> Cell:
        off = ctx.coord_offset
        p = ctx.page + off
        if self.gate:  # gated rules: one tracker per region bucket, tagged with its start
            limit = (ctx.region_end if ctx.region_end > 0 else ctx.n_pages) + off
            key = region_bucket(ctx.region_start + ctx.vpn_offset,
                                limit - ctx.region_start - off, ctx.proc)
            tr = self.tracks.get(key, [])
            if not tr or tr[8] != ctx.region_start + off:
                tr = self.tracks[key] = [-1, -1, -1, 0, 0, 0, 0, 0, ctx.region_start + off]
        else:
            tr = self.tracks.setdefault(ctx.region_start + off, [-1, -1, -1, 0, 0, 0, 0, 0])
        # then length, gap, confirmations; the last start-to-start period between runs started
        # by forward jumps (0: none), whether the run now finishing was started by one
        start, lastf, end = tr[0], tr[1], tr[2]
        if end >= 0 and p > end + 1:  # a forward jump: the run before it is finished
            e = -1
            period = p - start if tr[7] else 0
            candidate = period > 0 and period == tr[6]
            tr[6], tr[7] = period, 1
            if not self.gate or candidate or tr[5] >= 1:
                e = self.measure_end(ctx, lastf, end, tr)
            if e >= 0:
                length, gap = e - start + 1, p - e - 1
                tr[5] = tr[5] + 1 if (length, gap) == (tr[3], tr[4]) else 0
                tr[3], tr[4] = length, gap
            else:
                tr[5] = 0
            tr[0] = p
        elif not (end >= 0 and p == end + 1):  # not a continuation: a new run
            tr[0], tr[5], tr[6], tr[7] = p, 0, 0, 0
        tr[1] = p
        self.track = tr
        return super().fault_cell(ctx)

    def degree(self, c: Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        tr = self.track
        rest = tr[0] + tr[3] - 1 - page if tr[5] >= 1 and tr[3] >= 2 else -1
        self.predicted = None
        if rest < 0:
            k, self.copied = super().degree(c, page, limit, want, start, vpn)
            return k, self.copied
        want = rest if self.mode == "set" else min(window_asked(self, c, page, want, vpn), rest)
        self.capped += 1
        k, copied = exact_degree(self, c, page, limit, want)
        self.copied = copied
        if k and k == rest:
            self.predicted = tr[0] + tr[3] + tr[4]
        return k, copied

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        self.copied = 0
        k = super().act(c, ctx, want)
        off = ctx.coord_offset
        p = ctx.page + off
        limit = (ctx.region_end if ctx.region_end > 0 else ctx.n_pages) + off
        # gated rules: a window that copied nothing (its pages private already) leaves no
        # copies to read: the run is measured as ending at the fault
        self.track[2] = p if self.gate and not self.copied else max(min(p + k, limit - 1), p)
        if self.predicted is not None and k > 0:
            self.move_sentinel(p + k, ctx.region_start + off, limit, off)
        return k

    def move_sentinel(self, end: int, start: int, limit: int, off: int) -> None:
        """The sentinel the window left in the gap moves to the predicted next block start."""
        g_, q = self.ctx, self.predicted
        s = end + 1
        while s < limit and g_.private[s - off] and s <= end + g_.scan:
            s += 1
        t = (s - start) & (SENTINELS - 1)
        if q is None or s >= limit or g_.tags[t] >> 1 != s + 1:
            return
        tag, pages, reserved = g_.tags[t], g_.tag_pages[t], g_.tag_reserved[t]
        g_.tags[t] = g_.tag_pages[t] = g_.tag_reserved[t] = 0
        if q >= limit or g_.private[q - off]:
            return
        t2 = (q - start) & (SENTINELS - 1)
        if g_.tags[t2]:  # an unresolved sentinel leaves the table: a miss, as in commit
            oc = g_.tags[t2] & 1
            if g_.sentinel_feeds_use(t2):
                g_.use_down(oc)
            g_.misses[oc] += 1
        g_.tags[t2] = ((q + 1) << 1) | (tag & 1)
        g_.tag_pages[t2], g_.tag_reserved[t2] = pages, reserved
        self.moved += 1


def build(name: str, cost: CostModel) -> GuardedPolicy:
    """``guarded`` (shipped), ``shield64``, ``hindsight``, ``R1`` / ``R2`` (shipped table)."""
    kw = shipped_options(STUDY)
    table = [64] * N_CELLS if name == "shield64" else list(make_policy(STUDY).table)
    if name in RULES:
        return BlockRule.for_rule(cost, name, table)
    if name == "hindsight":
        return Hindsight.for_cost(cost, table=[64] * N_CELLS, **kw)
    if name in ("guarded", "shield64"):
        return GuardedPolicy.for_cost(cost, table=table, **kw)
    raise ConfigError(f"--policies: unknown policy {name!r}")


def draws(families: Sequence[str], first: int, n: int) -> list[tuple[str, Trace]]:
    bad = [f for f in families if f not in g.FAMILIES]
    if bad:
        raise ConfigError(f"--families: unknown family {bad[0]!r}")
    check_first(first)
    return [(f, t) for f in families for t in development_draws(f, n, first, named=False)]


def run(t: Trace, pol: GuardedPolicy, cost: CostModel) -> tuple[Any, list[tuple[int, int]]]:
    """Simulate ``pol`` on ``t``; also (copy fault, proof fault) of every copy proven."""
    born: dict[int, int] = {}
    lat: list[tuple[int, int]] = []
    prove, act = pol.prove, pol.act

    def proving(ctx: FaultContext, start: int, limit: int) -> None:
        before = {v for v in pol.ctx.proof_page if v}
        proven, expired = pol.ctx.proven, pol.ctx.expired
        prove(ctx, start, limit)
        if pol.ctx.expired == expired and pol.ctx.proven > proven:
            for v in before - {v for v in pol.ctx.proof_page if v}:
                lat.append((born.pop(v, -1), pol.ctx.n_faults))

    def acting(c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        k = act(c, ctx, want)
        for v in pol.ctx.proof_page:
            if v and v not in born:
                born[v] = pol.ctx.n_faults - 1  # the index of the fault that copied it
        return k

    pol.prove = proving  # type: ignore[method-assign]
    pol.act = acting  # type: ignore[method-assign]
    return simulate(t, pol, pol.priced(cost), fast=False), lat


def diagnose(cost: CostModel, traces: list[tuple[str, Trace]]) -> None:
    """Per draw and per family (module docstring)."""
    gain, loss = (int(v) for v in cost.with_clean(16).page_prices(1.0, "guarded"))
    print(f"budget prices: gain {gain} ns, loss {loss} ns a page: a window pays if under "
          f"{100 * (1 - break_even(gain, loss)):.1f}% of its copies are wasted")
    names = ("guarded", "shield64", "hindsight")
    stats: dict[tuple[str, str], list[float]] = {}
    rel: dict[tuple[str, str], list[float]] = {}
    for fam, t in traces:
        base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
        objs = BestStatic(lam=1.0).objectives(t, cost)
        best_k = min(objs, key=lambda k: (objs[k], k))
        orc = objective(simulate(t, Oracle(lam=1.0), cost), 1.0, cost.page_cost_ns)
        row = []
        for name in names:
            pol = build(name, cost)
            asked = [0, 0]  # windows opened, ... of them cut below the value asked
            degree = pol.degree

            def counted(c: Cell, page: int, limit: int, want: int | None = None,
                        start: int = 0, vpn: int | None = None, _d: Any = degree,
                        _p: GuardedPolicy = pol, _a: list[int] = asked) -> tuple[int, int]:
                k, copied = _d(c, page, limit, want, start, vpn)
                w = window_asked(_p, c, page, want, vpn)
                _a[0] += k > 0
                _a[1] += 0 < k < w
                return k, copied

            if name != "hindsight":
                pol.degree = counted  # type: ignore[method-assign]
            rec, lat = run(t, pol, cost)
            r = objective(rec, 1.0, cost.page_cost_ns) / base
            rel.setdefault((fam, name), []).append(r)
            row.append(f"{name} {r:.3f}")
            s = stats.setdefault((fam, name), [0.0] * 8)
            for i, v in enumerate((asked[0], asked[1], rec.precopied, rec.wasted, len(lat),
                                   sum(b - a for a, b in lat), pol.granted / cost.demand_ns,
                                   0)):
                s[i] += v
        # the hindsight decisions again, the engine charging no clean and no proof read: what
        # the interior proofs' own price takes from a perfect proposal
        free = dataclasses.replace(cost, proof_clean_ns=0.0, proof_read_ns=0.0)
        rec = simulate(t, build("hindsight", cost), free)
        rel.setdefault((fam, "free"), []).append(objective(rec, 1.0, cost.page_cost_ns) / base)
        rel.setdefault((fam, "best k"), []).append(objs[best_k] / base)
        rel.setdefault((fam, "oracle"), []).append(orc / base)
        meta = t.meta
        shape = ", ".join(f"{k} {meta[k]}" for k in ("block", "gap", "passes", "chunk",
                                                        "coverage") if k in meta)
        print(f"{fam} {t.name} ({shape}; {t.writes} writes): " + ", ".join(row)
              + f", best k={best_k} {objs[best_k] / base:.3f}, oracle {orc / base:.3f}",
              flush=True)
    for fam in dict.fromkeys(f for f, _ in traces):
        print(f"-- {fam}: gain " + ", ".join(
            f"{n} {geomean_gain(rel[(fam, n)]):+.2f}%"
            for n in (*names, "free", "best k", "oracle")))
        for name in ("guarded", "shield64"):
            o, cut, cp, ws, pv, age, al, _ = stats[(fam, name)]
            print(f"   {name}: windows {o:.0f} ({100 * cut / max(o, 1):.0f}% cut by the budget), "
                  f"copied {cp:.0f}, wasted {ws:.0f} ({100 * ws / max(cp, 1):.1f}%), proven "
                  f"{pv:.0f} (mean {age / max(pv, 1):.1f} faults to proof), allowances "
                  f"{al:.1f} demand faults")


def modes(cost: CostModel, traces: list[tuple[str, Trace]]) -> None:
    """guarded_diagnosis.py's modes on these draws: the reckless table (64s) under version 2's
    budget (the class defaults: sentinel credit, ``proof: 0``; the modes credit sentinels, so
    they do not apply to interior proofs), one obstacle removed by hindsight per mode."""
    from guarded_diagnosis import MODES
    from guarded_diagnosis import Hindsight as ModeHindsight

    saved = guarded.SENTINELS
    try:
        for mode in MODES:
            guarded.SENTINELS = 1 << 20 if mode == "noalias" else saved
            rel: dict[str, list[float]] = {}
            for fam, t in traces:
                base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
                pol = ModeHindsight.for_cost(cost, table=[64] * N_CELLS)
                pol.mode = mode
                rec = simulate(t, pol, cost)
                rel.setdefault(fam, []).append(objective(rec, 1.0, cost.page_cost_ns) / base)
            print(f"mode {mode:8} (version 2, table of 64s): " + ", ".join(
                f"{f} {geomean_gain(v):+.2f}% (worst {max(v):.3f})" for f, v in rel.items()))
    finally:
        guarded.SENTINELS = saved


@dataclasses.dataclass
class GridRun:
    """One run of :func:`grid`: a fresh policy simulated on one draw."""

    family: str
    trace: Trace
    policy: GuardedPolicy
    rec: Any  # the simulator's record
    ratio: float  # objective / the baseline's (k = 0)


def grid(costs: Sequence[str], traces: list[tuple[str, Trace]], names: Sequence[str],
         build: Callable[[str, CostModel], GuardedPolicy],
         count: Callable[[str, str, GridRun], Mapping[str, Any]],
         summarize: Callable[[str, str, list[float], dict[str, list[float]], Counter[str]],
                             dict[str, Any]],
         width: int, fast: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """The measure grid the studies share (this script's, dense_budget.py's, alloc_budget.py's):
    per cost model of ``costs`` and policy of ``names``, every draw of ``traces`` run by a
    fresh ``build(name, cost)`` under its own prices (``fast``: the simulator's fast path),
    its objective over the baseline's (k = 0). ``count(cm, name, run)`` returns the figures
    summed over the draws (it may print a line per draw); ``summarize(cm, name, ratios, by
    family, sums)`` prints the policy's line and returns its results (``"fam"``: the gain per
    family). After each cost model, :func:`family_table` (columns ``width`` wide). Returns
    the results, ``[cm][name]``."""
    res: dict[str, dict[str, dict[str, Any]]] = {}
    fams = list(dict.fromkeys(f for f, _ in traces))
    for cm in costs:
        cost = make_costmodel(cm)
        bases = [objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
                 for _, t in traces]
        res[cm] = {}
        for name in names:
            rel: list[float] = []
            fam: dict[str, list[float]] = {}
            tot: Counter[str] = Counter()
            for (f, t), b in zip(traces, bases, strict=True):
                pol = build(name, cost)
                rec = simulate(t, pol, pol.priced(cost), fast=fast)
                r = objective(rec, 1.0, cost.page_cost_ns) / b
                rel.append(r)
                fam.setdefault(f, []).append(r)
                tot.update(count(cm, name, GridRun(f, t, pol, rec, r)))
            res[cm][name] = summarize(cm, name, rel, fam, tot)
        family_table(names, fams, {n: res[cm][n]["fam"] for n in names}, width)
    return res


def family_table(names: Sequence[str], families: Sequence[str],
                 gain: Mapping[str, Mapping[str, float]], width: int) -> None:
    """A row per family, a column ``width`` wide per policy: ``gain[name][family]`` (%)."""
    print(f"{'family':15}" + "".join(f"{n:>{width}}" for n in names))
    for f in families:
        print(f"{f:15}" + "".join(f"{gain[n][f]:>+{width - 1}.2f}%" for n in names))


def gains(rel: Sequence[float], fam: Mapping[str, Sequence[float]], **extra: Any
          ) -> dict[str, Any]:
    """A policy's results for the declared rules: pooled gain, worst draw, gain per family
    (and ``extra``)."""
    return {"gain": geomean_gain(rel), "worst": max(rel),
            "fam": {k: geomean_gain(v) for k, v in fam.items()}, **extra}


Check = tuple[str, bool]


def pooled_check(cm: str, ref: Mapping[str, Any], r: Mapping[str, Any], margin: float
                 ) -> Check:
    """The pooled gain at least ``margin`` point above the reference's."""
    return (f"{cm} pooled {r['gain'] - ref['gain']:+.2f} point",
            r["gain"] - ref["gain"] >= margin)


def family_loss_check(cm: str, ref: Mapping[str, Any], r: Mapping[str, Any], most: float
                      ) -> Check:
    """No family's gain below the reference's by more than ``most`` point."""
    low = min(ref["fam"], key=lambda f: r["fam"][f] - ref["fam"][f])
    d = r["fam"][low] - ref["fam"][low]
    return (f"{cm} largest family loss {low} {d:+.2f}", d >= -most)


def family_gain_check(cm: str, ref: Mapping[str, Any], r: Mapping[str, Any], family: str,
                      least: float) -> Check:
    """``family``'s gain at least ``least`` point above the reference's."""
    d = r["fam"][family] - ref["fam"][family]
    return (f"{cm} {family} {d:+.2f}", d >= least)


def quiet_check(cm: str, ref: Mapping[str, Any], r: Mapping[str, Any], ref_name: str,
                slack: int = 0) -> Check:
    """Pages copied on random / sparse at most the reference's + ``slack``."""
    return (f"{cm} copied on random/sparse {r['quiet']} ({ref_name} {ref['quiet']})",
            r["quiet"] <= ref["quiet"] + slack)


def verdict(label: str, checks: Sequence[Check]) -> bool:
    """Print the declared rule's verdict on ``checks`` for ``label``; True if all hold."""
    ok = all(c for _, c in checks)
    print(f"rule, {label}: {'PASS' if ok else 'FAIL'}: "
          + "; ".join(f"{t} {'ok' if c else 'MISS'}" for t, c in checks))
    return ok


def measure(costs: Sequence[str], traces: list[tuple[str, Trace]],
            names: Sequence[str], per_trace: bool = False) -> None:
    """Per family and pooled gain, worst draw; the declared rule's verdict for R1, R2."""

    def count(cm: str, name: str, run: GridRun) -> dict[str, Any]:
        rec, pol = run.rec, run.policy
        if per_trace:
            print(f"   {cm} {name} {run.family} seed {run.trace.meta.get('sampler_seed')}: "
                  f"{run.ratio:.3f} copied {rec.precopied} wasted {rec.wasted} block reads "
                  f"{getattr(pol, 'block_reads', 0)} capped faults "
                  f"{getattr(pol, 'capped', 0)}")
        return {"copied": rec.precopied, "wasted": rec.wasted,
                "reads": getattr(pol, "block_reads", 0)}

    def summarize(cm: str, name: str, rel: list[float], fam: dict[str, list[float]],
                  tot: Counter[str]) -> dict[str, Any]:
        print(f"{cm} {name:9} gain {geomean_gain(rel):+.2f}% worst {max(rel):.3f} "
              f"copied {tot['copied']} wasted {tot['wasted']} block reads {tot['reads']}",
              flush=True)
        return gains(rel, fam)

    res = grid(costs, traces, names, build, count, summarize, 11)
    if "guarded" not in names:
        return
    for rule in (n for n in names if n in RULES):
        checks = []
        for cm in costs:
            ref, r = res[cm]["guarded"], res[cm][rule]
            checks.append(pooled_check(cm, ref, r, MARGIN))
            checks.append((f"{cm} worst {r['worst']:.3f}", r["worst"] <= WORST))
            checks.append(family_loss_check(cm, ref, r, FAMILY_LOSS))
            if "block_stride" in ref["fam"]:
                checks.append(family_gain_check(cm, ref, r, "block_stride", BLOCK_GAIN))
        verdict(rule, checks)


def page_trace(name: str, pages: Sequence[int], n: int) -> Trace:
    """A single-region trace ``name`` of ``n`` pages writing ``pages`` in order."""
    return Trace(name=name, pages=np.asarray(pages, dtype=np.int64), n_pages=n)


def adversaries(n: int = 16384) -> list[Trace]:
    """Block writers that break the tracker's prediction right after it confirms."""
    rng = np.random.default_rng(5)
    cut, skip, gaps, lens, late, rest = [], [], [], [], [], []
    for i, s in enumerate(range(0, n - 8, 8)):
        cut += list(range(s, s + (1 if i % 3 == 2 else 6)))  # confirmed, then 1 page
        skip += list(range(s, s + (5 if i % 3 == 2 else 6)))  # a block's last page skipped
        if i % 4 < 2:
            late += list(range(s, s + 6))
        else:  # the block's rest written a pass later
            late.append(s)
            rest += list(range(s + 1, s + 6))
    p = 0
    while p < n - 16:
        gaps += list(range(p, p + 6))
        p += 6 + int(rng.integers(1, 4))
    p = 0
    while p < n - 20:
        b = int(rng.integers(2, 17))
        lens += list(range(p, p + b))
        p += b + 3
    return [page_trace("adv_cut", cut, n), page_trace("adv_skip_last", skip, n),
            page_trace("adv_random_gap", gaps, n), page_trace("adv_random_len", lens, n),
            page_trace("adv_late_rest", late + rest, n)]


def excess_check(costs: Sequence[str], traces: Sequence[Trace], names: Sequence[str],
                 build: Callable[[str, int, CostModel], GuardedPolicy], fast: bool = True,
                 ratio: bool = False) -> bool:
    """The budget's bound for each of ``names`` under each cost model of ``costs``:
    ``build(name, k, cost)`` with a table of ``k``s (64 and 1) on every trace; the excess =
    objective - the objective with a table of zeros (the study's options) - the allowances
    granted must stay <= 1 ns a page (the integer prices round down). Prints the worst excess
    in demand faults and each trace's (``ratio``: also objective / baseline); True if it holds
    everywhere. Shared with experiments/dense_budget.py's and alloc_budget.py's ``bound``."""
    holds_all = True
    for cm in costs:
        cost = make_costmodel(cm)
        zeros = GuardedPolicy.for_cost(cost, table=[0] * N_CELLS, **shipped_options(STUDY))
        k0 = [objective(simulate(t, zeros, zeros.priced(cost)), 1.0, cost.page_cost_ns)
              for t in traces]
        for k, name in product((64, 1), names):
            worst, holds, cells = -1e18, True, []
            for t, z in zip(traces, k0, strict=True):
                pol = build(name, k, cost)
                obj = objective(simulate(t, pol, pol.priced(cost), fast=fast), 1.0,
                                cost.page_cost_ns)
                ex = obj - z - pol.granted
                holds &= ex <= t.n_pages  # 1 ns per page: the integer prices round down
                worst = max(worst, ex / cost.demand_ns)
                cell = f"{t.name} {ex / cost.demand_ns:+.1f}"
                if ratio:
                    base = objective(simulate(t, Baseline(), cost), 1.0, cost.page_cost_ns)
                    cell += f"/{obj / base:.3f}"
                cells.append(cell)
            holds_all &= holds
            print(f"{cm} table {k}s {name}: worst excess {worst:+.1f} demand faults "
                  f"({'bound holds' if holds else 'BOUND BROKEN'})")
            print("   " + ", ".join(cells), flush=True)
    return holds_all


def bound(costs: Sequence[str], rules: Sequence[str] = tuple(RULES)) -> bool:
    """The budget's bound with the block rules (module docstring); True if it holds."""
    traces = [g.stride(n_pages=4096, stride=2, writes=2048),
              g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
              g.uniform(n_pages=4096, writes=4096, seed=1),
              g.interleaved(n_pages=4096, streams=3, seed=2),
              g.block_stride(n_pages=4096, block=3, gap=3),
              g.block_stride(n_pages=4096, block=6, gap=2, passes=2)]
    traces += [g.randomized(2000 + d, 0, families=f) for f in ("multi_stream", "mixture")
               for d in range(2)] + adversaries()
    return excess_check(costs, traces, rules,
                        lambda rule, k, cost: BlockRule.for_rule(cost, rule, [k] * N_CELLS),
                        ratio=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("diagnose", "measure", "bound"))
    ap.add_argument("--costmodels", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--families", nargs="+", default=None)
    ap.add_argument("--draws", type=int, default=None)
    add_draw_arguments(ap, first=None, heldout=False,
                       first_note="default 2000 for diagnose, 3000 for measure")
    ap.add_argument("--policies", nargs="+", default=["guarded", "R1", "R2"])
    ap.add_argument("--per-trace", action="store_true",
                    help="measure: also one line per draw (ratio, pages, reads, capped faults)")
    args = ap.parse_args()
    check_draws(args.draws)
    if args.what == "diagnose":
        fams = args.families or ["block_stride", "dense_chunks"]
        ts = draws(fams, 2000 if args.first is None else args.first, args.draws or 8)
        for cm in args.costmodels:
            print(f"== {cm}")
            diagnose(make_costmodel(cm), ts)
            modes(make_costmodel(cm), ts)
    elif args.what == "measure":
        ts = draws(args.families or list(g.FAMILIES), 3000 if args.first is None else args.first,
                   args.draws or 3)
        measure(args.costmodels, ts, args.policies, args.per_trace)
    elif not bound(args.costmodels, [p for p in args.policies if p in RULES] or list(RULES)):
        raise SystemExit(1)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
