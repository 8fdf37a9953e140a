"""Dense random-order fills (``dense_chunks``) under the shipped ``guarded``: where the budget
goes, and two candidate rules (a simulator study, session 30; docs/results/dense-chunks-s30.md).

    python experiments/dense_budget.py diagnose [--families dense_chunks] [--first 2000] \
        [--draws 8] [--costmodels seed_table1 host] [--policies guarded]
    python experiments/dense_budget.py measure [--first 3000] [--draws 8] \
        [--policies guarded K A chunk_end] [--per-trace]
    python experiments/dense_budget.py bound [--policies K A]
    ... --quick   (1 draw, host only: the test's setting)

Development draws only (``g.randomized(first + d, 0, families=F)``, seeds 2000+); never the
protocol's held-out sets, the validation traces nor the recorded apps.

"The shipped ``guarded``" here is the study's (measured at f74da0f): adjacent windows and the
previous table, conf/policy/guarded_adjacent.yaml (:data:`STUDY`). ``guarded`` ships strided
windows and a re-learned table since session 30; the candidates do not prototype strided
windows (K refuses them).

``diagnose``: the shipped ``guarded`` (:data:`STUDY`) with
a probe (:class:`Probe`: counters only, the decisions unchanged; checked against the compiled
program's objective) prints per family the budget's ledger in demand faults (allowances in;
stakes of copies, reserve returned, gains and read credits of proofs, walk paid), the windows
(asked by the table, opened, cut by the budget, closed by the floor), the copies' fates
(``copied = proven + expired + overwritten + pending``; each of the last three split by whether
the trace wrote the page after its copy: a *lost proof* is a used copy whose reserve stays
spent; on dense_chunks also the copies past the end of the chunk their fault was filling),
the looks (ended at ``proof_reads``, cut by the budget), the
latency of each proof split into the writer's (copy -> first demand fault after the page's
write) and the look's (-> the fault whose look read it written), the budget level (pages of
stake it holds) and the live ring entries, and the compounding: the growth a proven generation
gives (credit / stake) and the e-folding time it implies at the measured latency.

``measure``: the candidates (:class:`Candidate`: K, the ring keeps live entries; A, the window
asked for is the rest of the dense area; ``chunk_end``, a reference reading the trace's chunk
size) against the shipped ``guarded`` on every family and the verdict of the rule declared
before the run (module constants ``MARGIN`` ...; docs/results/dense-chunks-s30.md).
``bound``: objective - objective with a table of zeros - allowances granted, tables of 64s
and 1s, on guarded_proof_bound.py-like writers plus adversaries of the candidates (<= 1 ns a
page: the bound holds).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import add_draw_arguments, check_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.metrics import geomean_gain, objective  # noqa: E402
from cowrl.policies.base import FaultContext  # noqa: E402
from cowrl.policies.guarded import (  # noqa: E402
    N_CELLS,
    PAGE_WRITTEN,
    PROOFS,
    Cell,
    GuardedPolicy,
    shipped_options,
)
from cowrl.policies.static import StaticPrecopy  # noqa: E402
from cowrl.registry import make_costmodel, make_policy  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.simulator import simulate  # noqa: E402
from cowrl.traces import generators as g  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import block_rule as br  # noqa: E402  (the bound harness, the draws, the measure grid: shared)

STUDY = "guarded_adjacent"  # the conf/policy file of the study's shipped guarded (module docstring)
FATES = ("proven", "expired", "overwritten", "pending")
PAST = "past the chunk's end"  # dense_chunks: a copy outside the chunk its fault was filling
LEDGER = ("allowance", "stake", "fixed", "returned", "gain", "read_credit", "walk")
# the rule declared before the judged run (docs/results/dense-chunks-s30.md)
MARGIN, DENSE_GAIN, FAMILY_LOSS, WORST_SLACK = 0.3, 2.0, 0.3, 0.002
QUIET = ("random", "sparse")  # nothing more copied there


class Probe(GuardedPolicy):
    """The policy's decisions with counters (nothing decided differently): the budget's
    ledger, the windows, the copies' fates and latencies, the looks."""

    def replay_program(self) -> None:
        return None  # the Python decisions at every fault (the counters need them)

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        super().reset(n_pages, seed)
        self.led: Counter[str] = Counter()
        self.win: Counter[str] = Counter()
        self.look: Counter[str] = Counter()
        self.fault_wi: list[int] = []  # write index of each demand fault
        self.level: list[tuple[int, int]] = []  # (budget, live entries) at each fault
        # ring slot -> (page, copy fault); and every copy's (page, copy fault, copy write
        # index, fate, fault it left: -1 pending)
        self.born: dict[int, tuple[int, int, int]] = {}
        self.copies: list[list[int]] = []
        # per cell: faults, windows asked / full / cut / closed, pages copied (first copy
        # index of each window in ``copies``: ``cell_of_copy``); strided windows' copies
        self.cells: dict[int, Counter[str]] = {}
        self.cell_of_copy: list[int] = []
        self.strided: list[bool] = []

    def _leave(self, i: int, fate: str) -> None:
        j = self.born.pop(i)[2]
        self.copies[j][3], self.copies[j][4] = FATES.index(fate), len(self.fault_wi) - 1

    def fault_cell(self, ctx: FaultContext) -> Cell:
        g_ = self.ctx
        self.fault_wi.append(ctx.write_index)
        self.level.append((self.budget, g_.proof_live))
        before = list(g_.proof_page)
        b0, granted = self.budget, self.granted
        proven, unused = g_.proven, g_.unused_reads
        reads, cuts = g_.proven + g_.unproven_reads, g_.proof_cuts
        c = super().fault_cell(ctx)
        dp, du = g_.proven - proven, g_.unused_reads - unused
        credit = dp * (self.loss + self.gain) + du * self.read_ns
        allowed = self.granted - granted
        self.led["allowance"] += allowed
        self.led["returned"] += dp * self.loss
        self.led["gain"] += dp * self.gain
        self.led["read_credit"] += du * self.read_ns
        self.led["walk"] += b0 + credit + allowed - self.budget
        n = g_.proven + g_.unproven_reads - reads
        self.look["faults"] += 1
        self.look["reads"] += n
        self.look["read limit"] += n >= self.proof_reads
        self.look["cut by budget"] += g_.proof_cuts > cuts
        for i, v in enumerate(before):
            if v and not g_.proof_page[i]:
                state = ctx.page_state
                assert state is not None
                self._leave(i, "proven" if state[v - 1 - ctx.coord_offset] == PAGE_WRITTEN
                            else "expired")
        return c

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        g_ = self.ctx
        before = list(g_.proof_page)
        b0 = self.budget
        w = br.window_asked(self, c, ctx.page, want, ctx.page + ctx.vpn_offset)
        strided = bool(g_.win_stride)
        k = super().act(c, ctx, want)
        copied = sum(1 for i, v in enumerate(g_.proof_page) if v != before[i])
        cs = self.cells.setdefault(c.cell, Counter())
        cs["faults"] += 1
        cs["asked"] += w > 0
        cs["strided"] += strided and k > 0
        cs["copied"] += copied
        self.led["stake"] += copied * self.loss
        self.led["fixed"] += b0 - self.budget - copied * self.loss
        if w > 0:
            self.win["asked"] += 1
            how = "floor" if g_.use[c.cls] < self.floor else "budget, none" if k == 0 \
                else "budget, smaller" if k < w else "full"
            self.win[how] += 1
            cs[how] += 1
        for i, v in enumerate(g_.proof_page):
            if v != before[i]:
                if before[i]:
                    self._leave(i, "overwritten")
                self.born[i] = (v - 1, len(self.fault_wi) - 1, len(self.copies))
                self.copies.append([v - 1, len(self.fault_wi) - 1, ctx.write_index, 3, -1])
                self.cell_of_copy.append(c.cell)
                self.strided.append(strided)
        return k


def fates(pol: Probe, t: Trace) -> dict[str, Any]:
    """The copies' fates (proven, expired, overwritten, pending at the end), each split by
    whether the trace writes the page after its copy; the latency of the proven ones in demand
    faults: the writer's (copy -> the first fault after the write) and the look's (-> proof)."""
    order = np.argsort(t.pages, kind="stable")
    sp = t.pages[order]
    fw = np.asarray(pol.fault_wi, dtype=np.int64)
    out: Counter[str] = Counter()
    writer, look = [], []
    chunk = int(t.meta.get("chunk", 0)) if t.meta.get("family") == "dense_chunks" else 0
    for page, f, wi, fate, left in pol.copies:
        # dense_chunks: a copy past the end of the chunk its fault was filling
        past = bool(chunk) and page // chunk != int(t.pages[fw[f]]) // chunk
        out[PAST] += past
        lo, hi = np.searchsorted(sp, page), np.searchsorted(sp, page, side="right")
        idx = order[lo:hi]
        later = idx[idx > wi]
        used = later.size > 0
        name = FATES[fate]
        out[f"{name}, {'used' if used else 'never written'}"] += 1
        if name == "proven" and used:
            fw_ = int(np.searchsorted(fw, int(later.min()), side="right"))  # first fault after
            writer.append(fw_ - f)
            look.append(left - fw_)
        if name in ("expired", "overwritten") and used:
            out["lost proofs"] += 1
            out["lost, " + PAST] += past
            # written before its entry left (a read then would have proven it) or after
            out["lost, written before it left"] += int(later.min()) < int(fw[left])
    return {"fates": out, "writer": writer, "look": look}


# --- candidates (declared in docs/results/dense-chunks-s30.md before measure ran) --------------


def next_free(ring: list[int], h: int) -> int:
    """The first empty ring slot at or after ``h``, cyclic (the module: the first zero bit
    of its map of live slots); -1 if every slot is live."""
    n = len(ring)
    for d in range(n):
        if not ring[(h + d) % n]:
            return (h + d) % n
    return -1


class Keep(GuardedPolicy):
    """K's slot choice (``keep_live``, :meth:`GuardedPolicy.ring_slot`): before a copy would
    overwrite a live ring entry at the head, the head moves to the first empty slot after it
    (:func:`next_free`), the scan paid from the budget first at ``walk_empty_ns``; the span
    is then the whole ring (``proof_tail = proof_head``). Every slot live, or the budget short
    of the scan's price: the copy overwrites the head's entry as shipped (after moves the head
    may point at a slot this window wrote: the next one it did not). Everything else is the
    shipped act (strided windows refused)."""

    keep_live = False
    moves = 0

    def act(self, c: Cell, ctx: FaultContext, want: int | None = None) -> int:
        if self.keep_live and self.proof and self.stride_window:
            raise ConfigError("keep_live: stride_window is not prototyped here")
        self.mine: set[int] = set()  # slots this window wrote (a full ring never takes them)
        return super().act(c, ctx, want)

    def ring_slot(self, ctx: FaultContext) -> tuple[int, bool]:
        if not self.keep_live:
            return super().ring_slot(ctx)
        g_ = self.ctx
        h = g_.proof_head
        while h in self.mine:
            h = (h + 1) & (PROOFS - 1)
        g_.proof_head = h
        moved = False
        if g_.proof_page[h] and self.budget >= self.walk_empty:
            f = next_free(g_.proof_page, h)
            if f >= 0:  # K: the live entry stays, the copy takes a free slot
                self.budget -= self.walk_empty
                if ctx.proof_walk is not None:
                    ctx.proof_walk[2] += 1  # charged proof_jump_ns by the engine
                g_.proof_head = h = f
                moved = True
                self.moves += 1
        self.mine.add(h)
        return h, moved


class Candidate(Probe, Keep):
    """The shipped policy, probed, with a declared rule (K: ``keep_live``; A: :class:`Area`);
    simulator only, nothing in the module."""


class Area(Candidate):
    """A (``mode = "area"``): at a fault with at least ``min_left`` private left neighbours
    and a private page within ``reach`` pages ahead, the window asked for runs up to the
    highest such page (the rest of the dense area; its exact degree a candidate, as an align
    value's), not the table's value; elsewhere the table's. ``mode = "chunk_end"`` (a
    reference that reads the trace's parameters, not deployable): at every fault of a
    ``dense_chunks`` draw the table's window is capped at the end of the chunk being filled.
    Only the proposal changes: the bound holds for any (``bound``)."""

    mode = "area"
    min_left = 2
    reach = 64
    chunk = 0

    def for_trace(self, trace: Trace, cost: Any, seed: int | None = None) -> Area:
        meta = trace.meta
        self.chunk = int(meta.get("chunk", 0)) if meta.get("family") == "dense_chunks" else 0
        return self

    def degree(self, c: Cell, page: int, limit: int, want: int | None = None,
               start: int = 0, vpn: int | None = None) -> tuple[int, int]:
        g_ = self.ctx
        if self.mode == "chunk_end":
            w = br.window_asked(self, c, page, want, vpn)
            end = (page // self.chunk + 1) * self.chunk - 1 if self.chunk else limit
            if w <= 0 or page + w <= end:
                return super().degree(c, page, limit, want, start, vpn)
            cap = end - page
        else:
            top = min(page + self.reach, limit - 1)
            last = next((q for q in range(top, page, -1) if g_.private[q - g_.off]), page)
            if g_.left < self.min_left or last <= page:
                return super().degree(c, page, limit, want, start, vpn)
            cap = last - page
        return br.exact_degree(self, c, page, limit, cap)


CANDIDATES: dict[str, type[Candidate]] = {
    "K": type("K", (Candidate,), {"keep_live": True}),
    "A": type("A", (Area,), {}),
    "chunk_end": type("ChunkEnd", (Area,), {"mode": "chunk_end"}),
}
"""The two candidates declared before the judged run (K, A) and one reference."""
DECLARED = ("K", "A")


def build(name: str, cost: CostModel, study: str = STUDY) -> GuardedPolicy:
    """``guarded`` (``study``'s table and options, probed), ``shield64`` (a table of 64s) or
    a candidate of :data:`CANDIDATES`."""
    kw = shipped_options(study)
    table = [64] * N_CELLS if name == "shield64" else list(make_policy(study).table)
    if name in ("guarded", "shield64"):
        return Probe.for_cost(cost, table=table, **kw)
    if name in CANDIDATES:
        return CANDIDATES[name].for_cost(cost, table=table, **kw)
    raise ConfigError(f"--policies: unknown policy {name!r}")


def ratio(t: Trace, pol: GuardedPolicy, cost: CostModel, base: float) -> tuple[float, Any]:
    rec = simulate(t, pol, pol.priced(cost), fast=False)
    return objective(rec, 1.0, cost.page_cost_ns) / base, rec


def decides_as_compiled(t: Trace, pol: GuardedPolicy, cost: CostModel, study: str,
                        base: float, r: float) -> bool:
    """Whether ``r``, a probe's objective / ``base`` on ``t``, is the compiled program's (the
    unprobed policy with ``pol``'s table and ``study``'s options): the probe changed no
    decision."""
    ref = GuardedPolicy.for_cost(cost, table=list(pol.table), **shipped_options(study))
    return abs(r - objective(simulate(t, ref, ref.priced(cost)), 1.0, cost.page_cost_ns)
               / base) < 1e-9


def diagnose(cost: CostModel, traces: list[tuple[str, Trace]], names: Sequence[str],
             study: str = STUDY) -> bool:
    """Per family (module docstring; ``study``: the conf/policy file whose table and options
    ``guarded`` and ``shield64`` take); False if a probe's objective differs from the compiled
    program's (the probe would have changed a decision)."""
    pol0 = build(names[0], cost, study)
    L, G_ = pol0.loss, pol0.gain
    print(f"budget prices: stake (loss) {L} ns, gain {G_} ns, read credit {pol0.read_ns} ns "
          f"x unused reads (<= {pol0.proof_ttl}), allowance {pol0.allowance} ns; a demand "
          f"fault {pol0.demand} ns")
    ok = True
    for name in names:
        agg: dict[str, Counter[str]] = {}
        lat: dict[str, tuple[list[int], list[int]]] = {}
        rel: dict[str, list[float]] = {}
        for fam, t in traces:
            base = objective(simulate(t, StaticPrecopy(0), cost), 1.0, cost.page_cost_ns)
            pol = build(name, cost, study)
            assert isinstance(pol, Probe)
            r, rec = ratio(t, pol, cost, base)
            if name in ("guarded", "shield64"):  # the probe decides as the compiled program
                ok &= decides_as_compiled(t, pol, cost, study, base, r)
            fa = fates(pol, t)
            a = agg.setdefault(fam, Counter())
            a.update(pol.led)
            a.update(pol.win)
            a.update({f"look {k}": v for k, v in pol.look.items()})
            a.update(fa["fates"])
            a["copied"] += len(pol.copies)
            a["engine copied"] += rec.precopied
            a["engine wasted"] += rec.wasted
            lv = np.asarray(pol.level, dtype=np.float64)
            a["level pages"] += float(lv[:, 0].mean()) / L if len(lv) else 0.0
            a["level live"] += float(lv[:, 1].mean()) if len(lv) else 0.0
            a["ring full faults"] += int((lv[:, 1] >= 128).sum()) if len(lv) else 0
            a["draws"] += 1
            w, lk = lat.setdefault(fam, ([], []))
            w += fa["writer"]
            lk += fa["look"]
            rel.setdefault(fam, []).append(r)
            meta = t.meta
            print(f"   {name} {fam} seed {meta.get('sampler_seed')} (chunk {meta.get('chunk')}, "
                  f"coverage {meta.get('coverage', 0):.2f}, {t.writes} writes, "
                  f"{len(pol.fault_wi)} faults): {r:.3f}, copied {len(pol.copies)}, proven "
                  f"{fa['fates']['proven, used']}, lost {fa['fates']['lost proofs']}, "
                  f"budget {lv[:, 0].mean() / L if len(lv) else 0:.1f} pages mean (quartiles "
                  + "/".join(f"{lv[int(q * (len(lv) - 1)), 0] / L:.1f}" for q in (.25, .5, .75, 1))
                  + f"), windows asked {pol.win['asked']} full {pol.win['full']} budget "
                  f"{pol.win['budget, smaller']}+{pol.win['budget, none']} floor "
                  f"{pol.win['floor']}; ledger " + ", ".join(
                      f"{k} {pol.led[k] / cost.demand_ns:.1f}" for k in LEDGER), flush=True)
        for fam, a in agg.items():
            d = cost.demand_ns
            w, lk = lat[fam]
            print(f"-- {name} {fam}: gain {geomean_gain(rel[fam]):+.2f}%, worst "
                  f"{max(rel[fam]):.3f} ({a['draws']} draws)")
            net = sum(a[k] * (-1 if k in ("stake", "fixed", "walk") else 1) for k in LEDGER)
            print("   ledger (demand faults): " + ", ".join(
                f"{k} {a[k] / d:.1f}" for k in LEDGER) + f"; net {net / d:.1f}")
            print(f"   windows: asked {a['asked']}, full {a['full']}, cut by the budget "
                  f"{a['budget, smaller']} smaller + {a['budget, none']} none, floor "
                  f"{a['floor']}")
            cp = a["copied"]
            print(f"   copies: {cp} (engine {a['engine copied']}, wasted {a['engine wasted']}) = "
                  + " + ".join(f"{f} {sum(v for k, v in a.items() if k.startswith(f + ','))}"
                               for f in FATES)
                  + "; " + ", ".join(f"{k} {a[k]}" for k in sorted(a)
                                     if ", used" in k or ", never" in k)
                  + f"; lost proofs {a['lost proofs']} (written before their entry left "
                  f"{a['lost, written before it left']}); copies past the chunk's end "
                  f"{a[PAST]}, lost of them {a['lost, ' + PAST]}")
            print(f"   looks: {a['look faults']} faults, {a['look reads']} reads, ended at "
                  f"proof_reads {a['look read limit']}, cut by the budget "
                  f"{a['look cut by budget']}; ring full at {a['ring full faults']} faults; "
                  f"mean budget {a['level pages'] / a['draws']:.1f} pages of stake, mean live "
                  f"entries {a['level live'] / a['draws']:.1f}")
            if w:
                r_gen = (a["gain"] + a["read_credit"]) / max(a["returned"], 1)
                tw, tl = float(np.mean(w)), float(np.mean(lk))
                print(f"   latency (demand faults, {len(w)} proofs): writer mean {tw:.1f} "
                      f"(median {np.median(w):.0f}), look mean {tl:.1f} (median "
                      f"{np.median(lk):.0f}); a generation returns x{1 + r_gen:.3f} of its "
                      f"stake: e-folding {np.log(1 + r_gen) and (tw + tl) / np.log(1 + r_gen):.0f} "
                      f"faults at the measured latency, {tw / np.log(1 + r_gen):.0f} with "
                      f"proofs read at once")
    return ok


def measure(costs: Sequence[str], traces: list[tuple[str, Trace]], names: Sequence[str],
            per_trace: bool = False) -> bool:
    """Per family and pooled gain, worst draw, pages copied on random / sparse; the verdict
    of the declared rule for each candidate against ``guarded``. True if every candidate
    named passes."""

    def count(cm: str, name: str, run: br.GridRun) -> dict[str, Any]:
        rec, pol = run.rec, run.policy
        assert isinstance(pol, Probe)
        if per_trace:
            print(f"   {cm} {name} {run.family} seed {run.trace.meta.get('sampler_seed')}: "
                  f"{run.ratio:.4f} copied {rec.precopied} wasted {rec.wasted}")
        return {"copied": rec.precopied, "wasted": rec.wasted,
                "lost": fates(pol, run.trace)["fates"]["lost proofs"],
                "quiet": rec.precopied if run.family in QUIET else 0}

    def summarize(cm: str, name: str, rel: list[float], fam: dict[str, list[float]],
                  tot: Counter[str]) -> dict[str, Any]:
        print(f"{cm} {name:8} gain {geomean_gain(rel):+.2f}% worst {max(rel):.4f} copied "
              f"{tot['copied']} wasted {tot['wasted']} lost proofs {tot['lost']} copied on "
              f"random/sparse {tot['quiet']}", flush=True)
        return br.gains(rel, fam, quiet=tot["quiet"])

    res = br.grid(costs, traces, names, build, count, summarize, 10, fast=False)
    ok_all = True
    for rule in (n for n in names if n in DECLARED and "guarded" in names):
        checks = []
        for cm in costs:
            ref, r = res[cm]["guarded"], res[cm][rule]
            checks.append(br.pooled_check(cm, ref, r, MARGIN))
            if "dense_chunks" in ref["fam"]:
                checks.append(br.family_gain_check(cm, ref, r, "dense_chunks", DENSE_GAIN))
            checks.append(br.family_loss_check(cm, ref, r, FAMILY_LOSS))
            checks.append((f"{cm} worst {r['worst']:.4f} (guarded {ref['worst']:.4f})",
                           r["worst"] <= ref["worst"] + WORST_SLACK))
            checks.append(br.quiet_check(cm, ref, r, "guarded"))
        ok_all &= br.verdict(rule, checks)
    return ok_all


def adversaries(n: int = 8192) -> list[Trace]:
    """Writers against the candidates: per 64-page block its last page, then its first four
    ascending and nothing else (A asks for the 60 pages between, never written); the same
    with the blocks' middles written a pass later, after the ring wrapped (K keeps them)."""
    far, late, rest = [], [], []
    for b in range(0, n - 63, 64):
        far += [b + 63, b, b + 1, b + 2, b + 3]
        late += [b + 63, b, b + 1, b + 2, b + 3]
        rest += list(range(b + 4, b + 63))
    return [br.page_trace("adv_far_private", far, n),
            br.page_trace("adv_late_middle", late + rest, n)]


def bound(costs: Sequence[str], names: Sequence[str]) -> bool:
    """objective - objective with a table of zeros - allowances granted (demand faults), per
    trace, tables of 64s and 1s; True if it is <= 1 ns a page everywhere (the integer prices
    round down)."""
    ts = [g.stride(n_pages=4096, stride=2, writes=2048),
          g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
          g.dense_chunks(n_pages=8192, chunk=96, coverage=1.0, seed=4),
          g.uniform(n_pages=4096, writes=4096, seed=1),
          g.interleaved(n_pages=4096, streams=3, seed=2),
          g.block_stride(n_pages=4096, block=6, gap=2, passes=2)]
    ts += [g.randomized(2000 + d, 0, families=f) for f in ("multi_stream", "mixture")
           for d in range(2)] + adversaries()
    return br.excess_check(costs, ts, names, lambda name, k, cost: CANDIDATES[name].for_cost(
        cost, table=[k] * N_CELLS, **shipped_options(STUDY)), fast=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("what", choices=("diagnose", "measure", "bound"))
    ap.add_argument("--costmodels", nargs="+", default=None)
    ap.add_argument("--families", nargs="+", default=None)
    ap.add_argument("--draws", type=int, default=None)
    add_draw_arguments(ap, first=None, heldout=False,
                       first_note="default 2000 for diagnose, 3000 for measure")
    ap.add_argument("--policies", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="1 draw, host only")
    ap.add_argument("--per-trace", action="store_true", help="measure: a line per draw")
    args = ap.parse_args()
    check_draws(args.draws)
    costs = args.costmodels or (["host"] if args.quick else ["seed_table1", "host"])
    n = args.draws or (1 if args.quick else 8)
    if args.what == "measure":
        fams = args.families or (["dense_chunks", "random"] if args.quick else list(g.FAMILIES))
        ts = br.draws(fams, 3000 if args.first is None else args.first, n)
        if not measure(costs, ts, args.policies or ["guarded", "K", "A"], args.per_trace):
            return 1
    if args.what == "bound" and not bound(costs, args.policies or list(DECLARED)):
        return 1
    if args.what == "diagnose":
        ts = br.draws(args.families or ["dense_chunks"],
                      2000 if args.first is None else args.first, n)
        ok = True
        for cm in costs:
            print(f"== {cm}")
            ok &= diagnose(make_costmodel(cm), ts, args.policies or ["guarded"])
        if not ok:
            print("PROBE CHANGED A DECISION")
            return 1
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
