"""Where the oracle's gain lies on a trace, and which online signal predicts it.

    python experiments/apps_signals.py regions  [--traces data/traces/*.npz]
    python experiments/apps_signals.py oracle   [--costmodel seed_table1 host]
    python experiments/apps_signals.py signals  [--families dense_chunks,zipf,sparse,random]
    python experiments/apps_signals.py rules    [--families ...] [--rules blk>=48:blk ...]
    python experiments/apps_signals.py guarded  [--families ...] [--force 1 2 4]

Family traces (``--families``): ``--draws`` development draws each,
``randomized(first + i, 0, families=F)``, seeds 2000+ (``--first``; as
experiments/ramp_proposer.py). ``--heldout-eval`` draws the protocol's held-out test traces
instead (``test_traces``: seeds 100000+), for an evaluation-only report; never to choose a
signal, rule or threshold. (Before session 29 the held-out draws were the default; the
``--families`` figures in docs/policies.md, "Where the oracle's gain lies on the recorded
applications", were printed that way.)

``regions``: per region (VMA) of each trace, its faults, write-order statistics (share of
faults on the page after / before the previous fault of the region, or at the same stride)
and the final density of its aligned 64-page blocks (aligned on the recorded virtual
address, as a PTE page is), plus how fast a block fills (the median span, in faults of the
region, between a block's first and last fault, over its faults).

``oracle``: runs the oracle's greedy look-ahead (``cowrl.policies.oracle``) through the
replay engine and splits its exact gain (each precopied page later written saves
``fault + copy - precopy``; each never written costs ``precopy + lambda * copy``; the sum
is baseline minus oracle objective when the cost model has no setup, skip or decide term)
by region and by the context at the decision, read from the oracle's own page state.

``signals``: at every demand fault of the k = 0 run (state: the pages written so far), the
hindsight value of copying the rest of the aligned 64-page block (``blk``) or a forward
window of ``k`` pages, bucketed by candidate online signals. Per bucket: faults, precision
(share of the copied pages written later; break-even is ``loss / (gain + loss)``), mean
reward per decision in demand faults. Single-fault deviations from k = 0 (windows of
successive faults overlap), so it ranks buckets; ``rules`` measures real policies.

``rules``: replays threshold rules ("signal >= t -> action") as online policies (state
only from the policy's own faults and private pages) and prints objective / baseline per
trace; ``always:fwd1`` equals static k = 1 (checked against the engine with ``--check``).
Besides threshold rules, ``proof:...`` (a group copy under a risk budget proven by the dirty
bits of the copied pages) and ``sent:...`` (proven by a sentinel page left inside the group).

``guarded``: the shipped ``guarded`` table, and tables forcing small windows in its stream
cells with a high sentinel hit rate, on the same traces (objective, copied, wasted pages).

Signals (integer state a module keeps, or PTE reads in the faulting page's PTE page):
``blk`` private pages among the other pages of the aligned 64-page block; ``bf`` demand
faults in the block so far (a per-block counter); ``nb8`` private pages among p-8..p+8;
``left3`` among p-3..p-1; ``fill`` the region's faults so far / its pages (percent);
``age`` faults of the region since the block's first fault; ``gcell`` guarded's cell without
its left part (kind/run/use, in the k = 0 run, which is what guarded sees on the corpus);
``burst`` the block's demand
faults so far per 100 faults of the region since the block's first fault (how much of the
region's recent faulting went into this block: a dense fill in progress).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import add_draw_arguments, check_draws, check_first, family_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.generalization import holdout_names  # noqa: E402
from cowrl.policies.guarded import GuardedContext, describe_cell  # noqa: E402
from cowrl.registry import make_costmodel  # noqa: E402
from cowrl.sim.costmodel import CostModel  # noqa: E402
from cowrl.sim.engine import ReplayEngine, lookahead_k, written_mask  # noqa: E402
from cowrl.traces.io import Trace, load_trace  # noqa: E402

BLOCK = 64
PTE_PAGE = 512
FWD = (1, 2, 4, 8, 16, 32, 64)
ACTIONS = ("blk", "fblk") + tuple(f"fwd{k}" for k in FWD)
SIGNALS = ("blk", "bf", "nb8", "left3", "fill", "age", "burst")
EDGES = {  # bucket lower edges per signal
    "blk": (0, 1, 2, 4, 8, 16, 32, 48, 56),
    "bf": (0, 1, 2, 4, 8, 16, 32, 48, 56),
    "nb8": (0, 1, 3, 5, 7, 9, 13, 16),
    "left3": (0, 1, 2, 3),
    "fill": (0, 5, 10, 25, 50, 75, 90),
    "age": (0, 1, 8, 64, 512, 4096),
    "burst": (0, 5, 10, 25, 50, 75, 90),
}
CORPUS = "data/traces/*.npz"


def geometry(t: Trace, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """Per page: its region's start and end page, and its aligned block's [lo, hi) (aligned
    on the recorded virtual address when the trace has ``region_starts``, clipped to the
    region)."""
    n = t.n_pages
    begins, ends = t.region_begins, t.region_ends
    rlo = np.empty(n, dtype=np.int64)
    rhi = np.empty(n, dtype=np.int64)
    blo = np.empty(n, dtype=np.int64)
    bhi = np.empty(n, dtype=np.int64)
    for r, (b, e) in enumerate(zip(begins, ends, strict=True)):
        rlo[b:e], rhi[b:e] = b, e
        vpn0 = int(t.region_starts[r]) // 4096 if t.region_starts is not None else int(b)
        p = np.arange(b, e)
        vpn = vpn0 + (p - b)
        lo = p - (vpn % block)
        blo[b:e] = np.maximum(lo, b)
        bhi[b:e] = np.minimum(lo + block, e)
    return rlo, rhi, blo, bhi


@njit(cache=True)
def _count(priv, lo, hi):  # pragma: no cover - compiled
    """Private pages among ``lo .. hi - 1`` (PTE reads)."""
    c = 0
    for q in range(lo, hi):
        c += priv[q]
    return c


@njit(cache=True)
def _age(bfirst, rf, r0, b0):  # pragma: no cover - compiled
    """Region faults since the block's first demand fault (this one, if it is the first)."""
    if bfirst[b0] < 0:
        bfirst[b0] = rf[r0]
    return rf[r0] - bfirst[b0]


@njit(cache=True)
def _burst(count, age):  # pragma: no cover - compiled
    """Block faults per 100 region faults since the block's first fault."""
    return (100 * count) // (age + 1) if count > 0 else 0


@njit(cache=True)
def _baseline_features(faulted, rlo, rhi, blo, bhi, fwd):  # pragma: no cover - compiled
    """Features and window (useful, wasted) counts at every demand fault of the k = 0 run
    (``faulted``: the distinct pages in the order of their first write)."""
    n = rlo.shape[0]
    nf = faulted.shape[0]
    first = np.full(n, -1, dtype=np.int64)  # never written: -1
    for j in range(nf):
        first[faulted[j]] = j
    # feats: page, blk, bf, nb8, left3, fill%, age, burst%, rel (0 other, 1 +1, 2 -1, 3 stride)
    F = np.zeros((nf, 9), dtype=np.int64)
    na = 2 + fwd.shape[0]
    U = np.zeros((nf, na), dtype=np.int64)
    W = np.zeros((nf, na), dtype=np.int64)
    priv = np.zeros(n, dtype=np.uint8)
    rf = np.zeros(n, dtype=np.int64)  # per region start page: faults so far
    prevp = np.full(n, -1, dtype=np.int64)  # per region start page
    prevd = np.zeros(n, dtype=np.int64)
    bfirst = np.full(n, -1, dtype=np.int64)  # per block lo: region fault index of 1st fault
    for j in range(nf):
        p = faulted[j]
        r0, r1, b0, b1 = rlo[p], rhi[p], blo[p], bhi[p]
        c = _count(priv, b0, b1)
        nb = _count(priv, max(p - 8, r0), min(p + 9, r1))
        lf = _count(priv, max(p - 3, r0), p)
        age = _age(bfirst, rf, r0, b0)
        d = p - prevp[r0] if prevp[r0] >= 0 else 0
        rel = 0
        if d == 1:
            rel = 1
        elif d == -1:
            rel = 2
        elif d != 0 and d == prevd[r0]:
            rel = 3
        prevd[r0] = d
        prevp[r0] = p
        F[j, 0] = p
        F[j, 1] = c
        F[j, 2] = c
        F[j, 3] = nb
        F[j, 4] = lf
        F[j, 5] = (100 * rf[r0]) // (r1 - r0)
        F[j, 6] = age
        F[j, 7] = _burst(c, age)
        F[j, 8] = rel
        # windows: a shared page is useful if written later (first[q] > j), else wasted
        for q in range(b0, b1):
            if q != p and not priv[q]:
                if first[q] > j:
                    U[j, 0] += 1
                else:
                    W[j, 0] += 1
        for q in range(p + 1, b1):
            if not priv[q]:
                if first[q] > j:
                    U[j, 1] += 1
                else:
                    W[j, 1] += 1
        for a in range(fwd.shape[0]):
            for q in range(p + 1, min(p + fwd[a] + 1, r1)):
                if not priv[q]:
                    if first[q] > j:
                        U[j, 2 + a] += 1
                    else:
                        W[j, 2 + a] += 1
        priv[p] = 1
        rf[r0] += 1
    return F, U, W


def baseline_features(t: Trace, block: int = BLOCK
                      ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rlo, rhi, blo, bhi = geometry(t, block)
    _, idx = np.unique(t.pages, return_index=True)
    faulted = t.pages[np.sort(idx)]  # k = 0: a page faults at its first write
    F, U, W = _baseline_features(faulted, rlo, rhi, blo, bhi, np.asarray(FWD, dtype=np.int64))
    names = ("page",) + SIGNALS + ("rel",)
    return {k: F[:, i] for i, k in enumerate(names)}, U, W


def bucket(values: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), values, side="right") - 1


def label(edges: tuple[int, ...], b: int) -> str:
    lo = edges[b]
    hi = edges[b + 1] - 1 if b + 1 < len(edges) else None
    if hi is None:
        return f">={lo}"
    return str(lo) if hi == lo else f"{lo}-{hi}"


# --- regions ----------------------------------------------------------------------------


def cmd_regions(traces: list[Trace], top: int) -> None:
    for t in traces:
        feats, _, _ = baseline_features(t)
        rlo, rhi, blo, bhi = geometry(t)
        p = feats["page"]
        reg = np.searchsorted(t.region_ends, p, side="right")
        print(f"\n## {t.name}: {p.size} faults, {t.region_ends.size} regions")
        print("| region | writer | pages | faults | fill | seq +1 | rev -1 | stride | "
              "blocks | block density p25/p50/p75 (fault-weighted) | dense>=90% blocks' faults"
              " | fill span/faults p50 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        counts = np.bincount(reg, minlength=t.region_ends.size)
        for r in np.argsort(-counts)[:top]:
            m = reg == r
            if not m.any():
                continue
            rel = feats["rel"][m]
            pr = p[m]
            size = int(t.region_sizes[r]) if t.region_sizes is not None else t.n_pages
            bl = blo[pr]
            ub, inv, cnt = np.unique(bl, return_inverse=True, return_counts=True)
            dens = cnt / (bhi[ub] - ub)
            fd = dens[inv]  # per fault: its block's final density
            # span (region fault index) between a block's first and last fault, over faults
            idx = np.arange(pr.size)
            firsts = np.full(ub.size, pr.size)
            lasts = np.zeros(ub.size, dtype=np.int64)
            np.minimum.at(firsts, inv, idx)
            np.maximum.at(lasts, inv, idx)
            span = (lasts - firsts + 1) / cnt
            big = cnt >= 8
            sp = f"{np.median(span[big]):.1f} ({big.sum()} blocks >=8 faults)" if big.any() \
                else "-"
            w = int(t.region_writers[r]) if t.region_writers is not None else 0
            print(f"| {r} | {w} | {size} | {m.sum()} | {m.sum() / size:.1%} | "
                  f"{(rel == 1).mean():.1%} | {(rel == 2).mean():.1%} | {(rel == 3).mean():.1%} | "
                  f"{ub.size} | {np.quantile(fd, .25):.2f}/{np.quantile(fd, .5):.2f}/"
                  f"{np.quantile(fd, .75):.2f} | {(fd >= 0.9).mean():.1%} | {sp} |")


# --- oracle attribution -------------------------------------------------------------------


def k0_context(t: Trace) -> dict[str, np.ndarray]:
    """Per page written: the k = 0 run's signals at its fault, and ``guarded``'s cell there
    (guarded opens almost no window on the corpus, so this is what it sees)."""
    feats, _, _ = baseline_features(t)
    rlo, rhi, _, _ = geometry(t)
    g = GuardedContext()
    g.reset(t.n_pages)
    g.scan = 8
    cells = np.empty(feats["page"].size, dtype=np.int64)
    for j, p in enumerate(feats["page"].tolist()):
        r0, r1 = int(rlo[p]), int(rhi[p])
        c = g.observe_fault(p, r0, r1)
        g.commit(c, p, 0, 0, 0, r1, r0)
        cells[j] = c.cell
    out = {}
    for k, v in list(feats.items()) + [("cell", cells)]:
        a = np.full(t.n_pages, -1, dtype=np.int64)
        a[feats["page"]] = v
        out[k] = a
    return out


def oracle_rows(t: Trace, cost: CostModel, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's greedy look-ahead replayed through the engine: per demand fault
    (page, k, useful, wasted), and each fault's gain as a share of the baseline objective
    (``useful * gain - wasted * loss``; they sum to 1 - look-ahead / baseline when the cost
    model has no setup, skip or decide term)."""
    gain, loss = cost.page_prices(lam)
    eng = ReplayEngine(cost, decided=True)
    ctx = eng.reset(t)
    base = cost.demand_ns * np.unique(t.pages).size
    rows = []
    while ctx is not None:
        k = int(lookahead_k(eng.written, eng.private, ctx.page, ctx.region_end, 64, gain,
                            loss))
        ev = eng.apply(k)
        rows.append((ctx.page, k, ev.useful, ev.wasted))
        ctx = eng.context
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return a, (a[:, 2] * gain - a[:, 3] * loss) / base


def cmd_oracle(traces: list[Trace], costs: list[str], lam: float) -> None:
    for t in traces:
        k0 = k0_context(t)
        reg_of = np.searchsorted(t.region_ends, np.arange(t.n_pages), side="right")
        for cname in costs:
            a, rg = oracle_rows(t, make_costmodel(cname), lam)
            pg = a[:, 0]
            u, w = a[:, 2].sum(), a[:, 3].sum()
            sizes = np.bincount(np.minimum(a[a[:, 1] > 0, 1], 65))
            print(f"\n## {t.name} / {cname}: oracle look-ahead gain {rg.sum():+.2%} of "
                  f"baseline ({(a[:, 1] > 0).sum()} windows at {len(a)} faults, {u} useful, {w} "
                  f"wasted pages, precision {u / max(1, u + w):.1%}; windows of 1-3 pages: "
                  f"{sizes[1:4].sum()}, 4-15: {sizes[4:16].sum()}, 16+: {sizes[16:].sum()})")
            _split("region", reg_of[pg], rg, a, top=4)
            _split("useful pages of the window (9 = 9+)", np.minimum(a[:, 2], 9), rg, a,
                   top=10)
            for sig in ("blk", "nb8", "left3", "fill", "age"):
                e = EDGES[sig]
                _split(f"{sig} (k=0 run)", bucket(k0[sig][pg], e), rg, a, top=0, edges=e)
            _split("relation to the region's previous fault in the k=0 run (0 other, 1 +1, "
                   "2 -1, 3 same stride)", k0["rel"][pg], rg, a, top=4)
            _split("guarded cell (k=0 run)", k0["cell"][pg], rg, a, top=6,
                   names=describe_cell)


def _split(title: str, key: np.ndarray, rg: np.ndarray, a: np.ndarray, top: int,
           edges: tuple[int, ...] | None = None, names=None) -> None:
    vals, inv = np.unique(key, return_inverse=True)
    g = np.bincount(inv, weights=rg)
    n = np.bincount(inv)
    win = np.bincount(inv, weights=(a[:, 1] > 0).astype(float))
    order = np.argsort(-g)[:top] if edges is None else np.arange(vals.size)
    parts = []
    for o in order:
        v = int(vals[o])
        if edges is not None:
            name = label(edges, v) if v >= 0 else "none"
        else:
            name = names(v) if names else str(v)
        parts.append(f"{name}: {g[o]:+.2%} ({n[o]} faults, {int(win[o])} windows)")
    print(f"- by {title}: " + "; ".join(parts))


# --- signal buckets -------------------------------------------------------------------------


def signal_keys(t: Trace, f: dict[str, np.ndarray], sig: str) -> tuple[np.ndarray, list[str]]:
    """Per demand fault of the k = 0 run: its bucket index for ``sig`` and the labels.
    ``gcell`` is guarded's cell without its ``left`` part (kind/run/use, k = 0 run)."""
    if sig == "gcell":
        cells = k0_context(t)["cell"][f["page"]]
        names = ["/".join(describe_cell(int(c)).split("/")[:2]) + "/" + describe_cell(int(c))[-4:]
                 for c in cells]
        labels = sorted(set(names))
        index = {n: i for i, n in enumerate(labels)}
        return np.array([index[n] for n in names], dtype=np.int64), labels
    edges = EDGES[sig]
    return bucket(f[sig], edges), [label(edges, b) for b in range(len(edges))]


def cmd_signals(groups: dict[str, list[Trace]], costs: list[str], lam: float,
                signals: list[str], actions: list[str], block: int = BLOCK,
                min_faults: int = 1) -> None:
    """Per bucket: faults, precision, mean reward per decision (demand faults), and the summed
    positive / negative rewards as a share of the baseline (mean over the group's traces)."""
    for cname in costs:
        cost = make_costmodel(cname)
        gain, loss = cost.page_prices(lam)
        print(f"\n# {cname}: gain/useful page {gain:.0f} ns, loss/wasted page {loss:.0f} ns, "
              f"break-even precision {loss / (gain + loss):.1%}; per bucket: faults, precision, "
              "mean reward per decision (demand faults), +gain/-loss of the bucket's decisions "
              "(% of baseline, mean over traces)")
        for gname, ts in groups.items():
            data = [baseline_features(t, block) for t in ts]
            for sig in signals:
                keyed = [signal_keys(t, f, sig) for t, (f, _, _) in zip(ts, data, strict=True)]
                labels = sorted({lb for _, lbs in keyed for lb in lbs},
                                key=lambda x: [lbs.index(x) if x in lbs else 99
                                               for _, lbs in keyed][0])
                for act in actions:
                    ai = ACTIONS.index(act)
                    cells = []
                    for lb in labels:
                        n = u = w = 0
                        pos = neg = 0.0
                        for (f, U, W), (keys, lbs) in zip(data, keyed, strict=True):
                            if lb not in lbs:
                                continue
                            m = keys == lbs.index(lb)
                            base = cost.demand_ns * f["page"].size
                            r = U[m, ai] * gain - W[m, ai] * loss
                            n += int(m.sum())
                            u += int(U[m, ai].sum())
                            w += int(W[m, ai].sum())
                            pos += float(r[r > 0].sum() / base) / len(ts)
                            neg += float(r[r < 0].sum() / base) / len(ts)
                        if n < min_faults:
                            continue
                        prec = f"{u / (u + w):.0%}" if u + w else "-"
                        mean = (u * gain - w * loss) / n / cost.demand_ns
                        cells.append(f"{lb}: n={n} prec={prec} r={mean:+.2f} "
                                     f"+{pos:.1%}/{neg:.1%}")
                    print(f"- {gname} | {sig} -> {act}: " + "; ".join(cells))


# --- rules (online threshold policies) ----------------------------------------------------

@njit(cache=True)
def _totals(priv, written, copied):  # pragma: no cover - compiled
    """Demand faults and wasted pages at the end of a replay that precopied ``copied`` pages:
    a written page faults once unless a precopy made it private first."""
    wasted = 0
    n_written = 0
    for q in range(priv.shape[0]):
        n_written += written[q]
        if priv[q] and not written[q]:
            wasted += 1
    return n_written - (copied - wasted), wasted


def _coef(cost: CostModel, lam: float) -> np.ndarray:
    """(demand, precopy, setup, skip, waste per wasted page, gain, loss) in ns."""
    gain, loss = cost.page_prices(lam)
    return np.array([cost.demand_ns, cost.precopy_ns, cost.precopy_setup_ns,
                     cost.precopy_skip_ns, lam * cost.page_cost_ns, gain, loss])


SIG_CODE = {"always": 0, "blk": 1, "bf": 2, "nb8": 3, "left3": 4, "fill": 5, "burst": 6}


@njit(cache=True)
def _state(pages, n):  # pragma: no cover - compiled
    """An online replay's state: written mask, private pages, demand faults per block,
    each block's first fault (region fault index), demand faults per region."""
    return (written_mask(pages, n), np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.int64),
            np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64))


@njit(cache=True)
def _run_rule(pages, rlo, rhi, blo, bhi, sig, thr, act, k, sig2, thr2, coef):  # pragma: no cover
    """Objective, faults, precopied, wasted of an online rule: at a demand fault on p, if
    signal ``sig`` >= ``thr`` (and ``sig2`` >= ``thr2`` when ``sig2 >= 0``) copy ``act``:
    0 the block's other shared pages, 1 forward to the block end, 2 forward ``k`` pages.
    coef = (demand_ns, precopy_ns, setup_ns, skip_ns, waste_ns)."""
    n = rlo.shape[0]
    written, priv, bfc, bfirst, rf = _state(pages, n)
    copied = 0
    ns = 0.0
    for i in range(pages.shape[0]):
        p = pages[i]
        if priv[p]:
            continue
        r0, r1, b0, b1 = rlo[p], rhi[p], blo[p], bhi[p]
        age = _age(bfirst, rf, r0, b0)
        ok = True
        for s, th in ((sig, thr), (sig2, thr2)):
            if s < 0:
                continue
            v = 0
            if s == 1:
                v = _count(priv, b0, b1)
            elif s == 2:
                v = bfc[b0]
            elif s == 3:
                v = _count(priv, max(p - 8, r0), min(p + 9, r1))
            elif s == 4:
                v = _count(priv, max(p - 3, r0), p)
            elif s == 5:
                v = (100 * rf[r0]) // (r1 - r0)
            elif s == 6:
                v = _burst(bfc[b0], age)
            if v < th:
                ok = False
        bfc[b0] += 1
        rf[r0] += 1
        priv[p] = 1
        ns += coef[0]
        if not ok:
            continue
        if act == 0:
            lo, hi = b0, b1
        elif act == 1:
            lo, hi = p + 1, b1
        else:
            lo, hi = p + 1, min(p + k + 1, r1)
        if hi <= lo:
            continue
        ns += coef[2]
        for q in range(lo, hi):
            if priv[q]:
                if q != p:
                    ns += coef[3]
            else:
                priv[q] = 1
                copied += 1
                ns += coef[1]
    faults, wasted = _totals(priv, written, copied)
    return ns + wasted * coef[4], faults, copied, wasted


@njit(cache=True)
def _run_proof(pages, rlo, blos, bhis, bf_min, burst_min, slots, allowance, partial,
               sentinel, coef):  # pragma: no cover
    """The group rule under a dirty-bit risk budget per (region, group size): ``blos[g]``,
    ``bhis[g]`` are each page's aligned group at size g (ascending sizes). At a demand fault
    whose smallest group has >= ``bf_min`` demand faults (and burst >= ``burst_min``), copy
    the other shared pages of the largest group whose worst case (``copied * loss +
    setup``) fits that size's budget (with ``partial``, as many, from p upwards, as it
    affords). Each such evidence fault adds ``allowance`` ns, split evenly over the sizes.
    Per region and size the last ``slots`` copied groups are remembered; at every demand
    fault in the region their copied pages' dirty bits are read, and each page found written
    since its copy (first time) refunds its reserve and adds its gain to the size that copied
    it. coef = (demand, precopy, setup, skip, waste, gain, loss). With ``sentinel`` the proof
    is a page left shared instead: a copy leaves the highest of the group's shared pages
    shared, and a demand fault on it credits every page of its copy (the group was written
    up to its sentinel; the other pages are assumed written).
    Returns objective, faults, copied, wasted, windows, PTE reads of the dirty scans."""
    n = rlo.shape[0]
    ng = blos.shape[0]
    written, priv, bfc, bfirst, rf = _state(pages, n)
    copied_by = np.full(n, -1, dtype=np.int64)  # size index that precopied it, until credited
    dirty = np.zeros(n, dtype=np.uint8)  # written after its precopy (hardware D bit)
    budget = np.zeros((ng, n))
    pend = np.full((ng, n, slots), -1, dtype=np.int64)  # per size, region: copied groups
    sent = np.zeros(n, dtype=np.int64)  # pages copied by the window whose sentinel this is
    sent_g = np.zeros(n, dtype=np.int64)
    nxt = np.zeros((ng, n), dtype=np.int64)
    windows = reads = copied = 0
    ns = 0.0
    for i in range(pages.shape[0]):
        p = pages[i]
        if priv[p]:
            if copied_by[p] >= 0:
                dirty[p] = 1
            continue
        r0 = rlo[p]
        age = _age(bfirst, rf, r0, blos[0, p])
        if sent[p] > 0:
            budget[sent_g[p], r0] += sent[p] * (coef[5] + coef[6])
            sent[p] = 0
        for g in range(ng if not sentinel else 0):  # dirty-bit scan of the copied groups
            for sl in range(slots):
                lo = pend[g, r0, sl]
                if lo < 0:
                    continue
                left = 0
                for q in range(lo, bhis[g, lo]):
                    reads += 1
                    if copied_by[q] == g:
                        if dirty[q]:
                            budget[g, r0] += coef[5] + coef[6]
                            copied_by[q] = -1
                        else:
                            left += 1
                if left == 0:
                    pend[g, r0, sl] = -1
        ns += coef[0]
        c = bfc[blos[0, p]]
        burst = _burst(c, age)
        bfc[blos[0, p]] += 1
        rf[r0] += 1
        priv[p] = 1
        if c < bf_min or burst < burst_min:
            continue
        for g in range(ng):
            budget[g, r0] += allowance / ng
        for g in range(ng - 1, -1, -1):  # the largest group the budget affords
            b0, b1 = blos[g, p], bhis[g, p]
            shared = 0
            top = -1
            for q in range(b0, b1):
                if not priv[q]:
                    shared += 1
                    top = q  # with sentinel: stays shared, the copy's proof
            if sentinel:
                shared -= 1
            else:
                top = -1
            m = shared
            if partial and m * coef[6] + coef[2] > budget[g, r0]:
                m = int((budget[g, r0] - coef[2]) // coef[6])  # as many as it affords
            if m <= 0 or m * coef[6] + coef[2] > budget[g, r0]:
                continue
            budget[g, r0] -= m * coef[6] + coef[2]
            ns += coef[2]
            windows += 1
            done = 0
            for j in range(1, b1 - b0):  # the group's shared pages from p upwards, wrapping
                q = b0 + (p - b0 + j) % (b1 - b0)
                if done < m and not priv[q] and q != top:
                    priv[q] = 1
                    copied_by[q] = g
                    copied += 1
                    done += 1
                    ns += coef[1]
            if sentinel:
                sent[top] = done
                sent_g[top] = g
            else:
                sl = nxt[g, r0]
                pend[g, r0, sl] = b0  # the oldest remembered copy is forgotten
                nxt[g, r0] = (sl + 1) % slots
            break
    faults, wasted = _totals(priv, written, copied)
    return ns + wasted * coef[4], faults, copied, wasted, windows, reads


def run_proof(t: Trace, spec: str, cost: CostModel, lam: float, block: int = BLOCK
              ) -> dict[str, float]:
    """``proof:BF,BURST,SLOTS,PERMILLE[,PARTIAL[,G1/G2/...]]``: :func:`_run_proof` with
    those parameters (PARTIAL 1: copy what the budget affords; default 0: the whole rest;
    group sizes G1/G2/... instead of ``block``); ``sent:BF,BURST,PERMILLE``: the same rule
    at ``block`` proven by a sentinel page (no dirty bits)."""
    sentinel = spec.startswith("sent:")
    sizes = [block]
    try:
        vals = spec.split(":", 1)[1].split(",")
        if sentinel:
            (bf, burst, pm), slots, partial = (int(v) for v in vals), 1, False
        else:
            bf, burst, slots, pm = (int(v) for v in vals[:4])
            partial = bool(int(vals[4])) if len(vals) > 4 else False
            if len(vals) > 5:
                sizes = sorted(int(g) for g in vals[5].split("/"))
    except ValueError:
        raise ConfigError(f"--rules: {spec!r}: expected proof:BF,BURST,SLOTS,PERMILLE"
                          "[,PARTIAL[,G1/G2/...]] or sent:BF,BURST,PERMILLE") from None
    geo = [geometry(t, g) for g in sizes]
    blos = np.stack([x[2] for x in geo])
    bhis = np.stack([x[3] for x in geo])
    obj, faults, copied, wasted, windows, reads = _run_proof(
        t.pages, geo[0][0], blos, bhis, bf, burst, slots, cost.demand_ns * pm / 1000, partial,
        sentinel, _coef(cost, lam))
    base = cost.demand_ns * np.unique(t.pages).size
    return {"ratio": obj / base, "faults": faults, "copied": copied, "wasted": wasted,
            "windows": windows, "reads": reads}


def parse_rule(text: str) -> tuple[int, int, int, int, int, int]:
    """``SIG>=T[&SIG2>=T2]:ACTION`` (ACTION: blk, fblk, fwdK) or ``always:ACTION``."""
    try:
        cond, action = text.split(":")
        parts = cond.split("&")
        sigs = []
        for c in parts:
            if c == "always":
                sigs.append((0, 0))
            else:
                s, th = c.split(">=")
                sigs.append((SIG_CODE[s], int(th)))
        if len(sigs) == 1:
            sigs.append((-1, 0))
        if action == "blk":
            act, k = 0, 0
        elif action == "fblk":
            act, k = 1, 0
        elif action.startswith("fwd"):
            act, k = 2, int(action[3:])
        else:
            raise ValueError(action)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"--rules: cannot parse {text!r} ({e}); expected "
                          "SIG>=T[&SIG2>=T2]:ACTION with SIG in "
                          f"{', '.join(SIG_CODE)} and ACTION blk, fblk or fwdK") from None
    return sigs[0][0], sigs[0][1], act, k, sigs[1][0], sigs[1][1]


def run_rule(t: Trace, rule: str, cost: CostModel, lam: float, block: int = BLOCK
             ) -> dict[str, float]:
    if rule.startswith(("proof:", "sent:")):
        return run_proof(t, rule, cost, lam, block)
    sig, thr, act, k, sig2, thr2 = parse_rule(rule)
    rlo, rhi, blo, bhi = geometry(t, block)
    coef = _coef(cost, lam)
    obj, faults, copied, wasted = _run_rule(t.pages, rlo, rhi, blo, bhi, sig, thr, act, k,
                                            sig2, thr2, coef)
    base = cost.demand_ns * np.unique(t.pages).size
    return {"ratio": obj / base, "faults": faults, "copied": copied, "wasted": wasted}


def cmd_rules(groups: dict[str, list[Trace]], costs: list[str], lam: float, rules: list[str],
              check: bool, block: int = BLOCK) -> None:
    from cowrl.metrics import objective
    from cowrl.policies.static import StaticPrecopy
    from cowrl.sim.simulator import simulate

    for cname in costs:
        cost = make_costmodel(cname)
        print(f"\n# {cname}: objective / baseline per group: geometric mean / worst trace / "
              "waste (wasted / copied pages) [/ dirty-scan PTE reads per fault, proof rules]")
        if check:
            for ts in groups.values():
                for t in ts[:2]:
                    for kk in (1, 8):
                        rec = simulate(t, StaticPrecopy(kk), cost)
                        want = objective(rec, lam, cost.page_cost_ns) / (
                            cost.demand_ns * np.unique(t.pages).size)
                        got = run_rule(t, f"always:fwd{kk}", cost, lam)["ratio"]
                        if abs(want - got) > 1e-9:
                            raise SystemExit(f"check failed on {t.name} k={kk}: engine "
                                             f"{want:.6f}, rule {got:.6f}")
            print("(check: always:fwd1 and always:fwd8 equal the engine's static k on "
                  "the first 2 traces of every group)")
        header = "| rule | " + " | ".join(groups) + " |"
        print(header)
        print("|" + "---|" * (len(groups) + 1))
        for rule in rules:
            cells = []
            for ts in groups.values():
                res = [run_rule(t, rule, cost, lam, block) for t in ts]
                r = np.array([x["ratio"] for x in res])
                cp = sum(x["copied"] for x in res)
                ws = sum(x["wasted"] for x in res)
                worst = int(np.argmax(r))
                gm = float(np.exp(np.mean(np.log(r))))
                cell = f"{gm:.3f} / {r[worst]:.3f} / {ws / cp if cp else 0:.0%}"
                if "reads" in res[0]:  # dirty-bit scans: PTE reads per demand fault
                    rd = sum(x["reads"] for x in res) / max(1, sum(x["faults"] for x in res))
                    cell += f" / {rd:.1f}"
                cells.append(cell)
            print(f"| `{rule}` | " + " | ".join(cells) + " |", flush=True)


# --- guarded on the same traces ---------------------------------------------------------


def forced_table(k: int, kinds: tuple[str, ...] = ("near", "exact"),
                 uses: tuple[int, ...] = (2, 3)) -> list[int]:
    """A guarded table with ``k`` in the cells of ``kinds`` whose use bucket is in ``uses``."""
    from cowrl.policies.guarded import N_CELLS

    out = [0] * N_CELLS
    for c in range(N_CELLS):
        d = describe_cell(c)
        if d.split("/")[0] in kinds and int(d[-1]) in uses:
            out[c] = k
    return out


def cmd_guarded(groups: dict[str, list[Trace]], costs: list[str], lam: float,
                force: list[int], per_mille: list[int]) -> None:
    """The shipped guarded table (conf/policy/guarded.yaml) and tables forcing ``k`` in the
    stream cells with a high sentinel hit rate, under allowances of ``per_mille``."""
    import yaml

    from cowrl.metrics import objective
    from cowrl.policies.guarded import GuardedPolicy
    from cowrl.sim.simulator import simulate

    shipped = yaml.safe_load((Path(__file__).resolve().parent.parent
                              / "conf/policy/guarded.yaml").read_text())
    variants = [("shipped", shipped["table"], int(shipped["budget_per_mille"]))]
    variants += [(f"near/exact use2-3 -> {k}, {pm}/1000", forced_table(k), pm)
                 for k in force for pm in per_mille]
    for cname in costs:
        cost = make_costmodel(cname)
        print(f"\n# {cname}: guarded, objective / baseline (worst trace), copied, wasted")
        print("| table | " + " | ".join(groups) + " |")
        print("|" + "---|" * (len(groups) + 1))
        for name, table, pm in variants:
            cells = []
            for ts in groups.values():
                worst, cp, ws = 0.0, 0, 0
                for t in ts:
                    pol = GuardedPolicy.for_cost(cost, lam, table=table, budget_per_mille=pm,
                                                 grant_left=int(shipped["grant_left"]),
                                                 scan=int(shipped["scan"]))
                    rec = simulate(t, pol, cost)
                    r = objective(rec, lam, cost.page_cost_ns) / (
                        cost.demand_ns * np.unique(t.pages).size)
                    worst, cp, ws = max(worst, r), cp + rec.precopied, ws + rec.wasted
                cells.append(f"{worst:.4f} ({cp}, {ws})")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


# --- command line -------------------------------------------------------------------------


def dense_grid() -> list[Trace]:
    """Dense random-order fills (the issue's private streams' shape): ``dense_chunks`` with
    chunks of 16..512 pages and coverage 0.5..1, 4096 pages."""
    from cowrl.traces.generators import dense_chunks

    return [dense_chunks(n_pages=4096, chunk=c, coverage=cv, seed=s,
                         name=f"dense_c{c}_cov{int(100 * cv)}")
            for s, (c, cv) in enumerate((c, cv) for c in (16, 64, 256, 512)
                                        for cv in (1.0, 0.9, 0.7, 0.5))]


def load_groups(trace_globs: list[str], families: list[str], draws: int,
                per_trace: bool, first: int = 2000, heldout_eval: bool = False
                ) -> dict[str, list[Trace]]:
    groups: dict[str, list[Trace]] = {}
    for g in trace_globs:
        files = sorted(glob.glob(g))
        if not files:
            raise ConfigError(f"--traces: no file matches {g!r}")
        for f in files:
            t = load_trace(f, times=False)
            groups.setdefault(t.name if per_trace else "apps", []).append(t)
    for fam in families:
        ts = dense_grid() if fam == "dense_grid" else family_draws(
            fam, draws, first, heldout_eval=heldout_eval)
        if per_trace and fam == "dense_grid":
            for t in ts:
                groups[t.name] = [t]
        else:
            groups[fam] = ts
    return groups


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("regions", "oracle", "signals", "rules", "guarded"))
    ap.add_argument("--traces", nargs="*", default=[CORPUS])
    ap.add_argument("--families", default="",
                    help="comma-separated generator families (dense_grid: 16 dense fills)")
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    add_draw_arguments(ap, never="a signal or rule")
    ap.add_argument("--costmodel", nargs="+", default=["seed_table1", "host"])
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--top", type=int, default=8, help="regions per trace (regions)")
    ap.add_argument("--signals", default=",".join(SIGNALS))
    ap.add_argument("--actions", default="blk,fwd1,fwd8")
    ap.add_argument("--rules", nargs="*", default=["always:fwd1", "blk>=48:blk"])
    ap.add_argument("--pooled", action="store_true", help="one group for all recorded traces")
    ap.add_argument("--check", action="store_true", help="rules: check against the engine")
    ap.add_argument("--min-faults", type=int, default=1,
                    help="signals: leave out buckets with fewer faults")
    ap.add_argument("--force", type=int, nargs="*", default=[1, 2, 4],
                    help="guarded: k forced in the near/exact cells with use 2-3")
    ap.add_argument("--per-mille", type=int, nargs="*", default=[10, 100],
                    help="guarded: allowances of the forced tables")
    ap.add_argument("--block", type=int, default=BLOCK,
                    help="aligned block size in pages for blk/bf/burst and the blk action")
    args = ap.parse_args(argv)
    check_draws(args.draws)
    fams = [f for f in args.families.split(",") if f]  # none by default: the traces alone
    if any(f != "dense_grid" for f in fams):  # dense_grid: this script's own fills
        holdout_names(",".join(f for f in fams if f != "dense_grid"), "--families",
                      families_only=True)
    check_first(args.first)
    if args.command in ("regions", "oracle"):
        traces = [t for g in load_groups(args.traces, [], 0, True).values() for t in g]
        traces += [t for f in fams for t in (dense_grid() if f == "dense_grid" else family_draws(
            f, args.draws, args.first, heldout_eval=args.heldout_eval))]
        if args.command == "regions":
            cmd_regions(traces, args.top)
        else:
            cmd_oracle(traces, args.costmodel, args.lam)
        return
    groups = load_groups(args.traces, fams, args.draws, not args.pooled, args.first,
                         heldout_eval=args.heldout_eval)
    if args.command == "signals":
        sigs = [s for s in args.signals.split(",") if s]
        acts = [a for a in args.actions.split(",") if a]
        for s in sigs:
            if s not in SIGNALS + ("gcell",):
                raise ConfigError(f"--signals: unknown signal {s!r} ({', '.join(SIGNALS)})")
        for a in acts:
            if a not in ACTIONS:
                raise ConfigError(f"--actions: unknown action {a!r} ({', '.join(ACTIONS)})")
        cmd_signals(groups, args.costmodel, args.lam, sigs, acts, args.block, args.min_faults)
    elif args.command == "guarded":
        cmd_guarded(groups, args.costmodel, args.lam, args.force, args.per_mille)
    else:
        cmd_rules(groups, args.costmodel, args.lam, args.rules, args.check, args.block)


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
