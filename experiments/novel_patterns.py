"""Audit: the shipped policies on write patterns that no generator of the project produces.

    nice -n 19 python train.py policy=bandit costmodel=seed_table1 out=DIR_A   # ~1 min each
    nice -n 19 python train.py policy=bandit costmodel=host out=DIR_B
    python experiments/novel_patterns.py --bandit DIR_A DIR_B [--costmodels seed_table1,host]
    python experiments/novel_patterns.py --patterns matmul_ctiles --variants '{"proof_ttl": 0}'

Builds a few seeded traces of each pattern below (none of them a family of
``cowrl/traces/generators.py`` nor a trace of ``../shared/validation``) and measures, per cost
model (lambda 1), baseline, ``guarded`` as shipped (``conf/policy/guarded.yaml``, built as
``eval.py`` builds it: ``costmodel: auto``, the budget priced by the run's cost model), the
default bandit as a user trains it (``python train.py policy=bandit costmodel=X out=DIR``;
``--bandit`` takes such directories and uses, per cost model, the one trained for it),
``readahead``, the best fixed k in hindsight and the oracle, with
:func:`cowrl.generalization.measure` (``simulate`` and ``objective``, as the protocol does).
Prints one table per cost model (objective / baseline, / best fixed k, wasted / precopied
pages) and per policy the geometric-mean gain, its share of the oracle's gain and the worst
trace.

These traces are for measurement only: never train, tune or choose options on them (nor add
them to the generators or to data/). Left out as duplicates: a downward-growing stack with
bursts (``v_stack_bursts``), plain stride-2 (``block_stride`` with block 1, gap 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cowrl.devdraws import check_draws  # noqa: E402
from cowrl.errors import ConfigError  # noqa: E402
from cowrl.traces.io import Trace  # noqa: E402

AUDIT_SEED = 20261203
"""Root of every draw here (its own stream: no generator or protocol seed draws from it)."""
SAFETY = 1.02


def _pages(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).reshape(-1)


def _trace(name: str, pages: Any, n_pages: int, **kw: Any) -> Trace:
    return Trace(pages=_pages(pages) % n_pages, n_pages=n_pages, name=name,
                 meta={"generator": f"novel_patterns.{name}"}, **kw)


def hash_probe(n: int, rng: np.random.Generator) -> Trace:
    """Open-addressing inserts: a random home page plus a linear-probe run of 1-3 pages (longer
    as the table fills, wrapping at its end); at load 0.7 the table doubles into a fresh area
    and every entry is rehashed there."""
    out, base, size, per_page = [], 0, max(2, n // 16), 8
    while base + size <= n:
        inserts = int(0.7 * per_page * size)  # the old table's entries first (the rehash)
        for i in range(inserts):
            load = i / (per_page * size)
            h = int(rng.integers(size))
            run = 1 + int(rng.random() < load ** 2) + int(rng.random() < load ** 3)
            out.append(base + (h + np.arange(run)) % size)
        base, size = base + size, 2 * size
    return _trace("hash_probe", np.concatenate(out), n)


def copying_gc(n: int, rng: np.random.Generator) -> Trace:
    """A copying GC: to-space (the upper half) filled in order, each copied page preceded by
    1-4 forwarding-pointer writes into from-space along a clustered walk (ascending, with
    jumps where the object graph leaves the neighbourhood)."""
    half = n // 2
    live = int(rng.uniform(0.3, 0.7) * half)
    out, c = [], int(rng.integers(half))
    for t in range(live):
        for _ in range(int(rng.integers(1, 5))):
            jump = rng.random() < 0.3
            c = int(rng.integers(half)) if jump else (c + int(rng.integers(1, 4))) % half
            out.append(c)
        out.append(half + t)
    return _trace("copying_gc", out, n)


def mark_bitmap(n: int, rng: np.random.Generator) -> Trace:
    """A GC mark phase: a dense bitmap (1/32 of the heap) set at random, 15% of the steps also
    writing a scattered object header elsewhere in the heap."""
    bm = max(8, n // 32)
    off = int(rng.integers(0, n - bm + 1))
    steps = 8 * bm
    bits = off + rng.integers(0, bm, size=steps)
    heads = rng.integers(0, n - bm, size=steps)
    heads = np.where(heads >= off, heads + bm, heads)
    hdr = rng.random(steps) < 0.15
    out = np.stack([bits, np.where(hdr, heads, -1)], axis=1).reshape(-1)
    return _trace("mark_bitmap", out[out >= 0], n)


def ring_log(n: int, rng: np.random.Generator) -> Trace:
    """A ring-buffer log over 60% of the region (page 0 its header): records of 1-4 pages from
    a random head, the header rewritten after each, wrapping at the ring's end (not the
    region's) for 1.5 laps; 10% of the records also update a random index page past it."""
    ring = max(8, int(0.6 * n))
    head = int(rng.integers(ring))
    out, done = [], 0
    while done < int(1.5 * ring):
        r = int(rng.integers(1, 5))
        out.extend(1 + (head + done + np.arange(r)) % ring)
        done += r
        out.append(0)
        if rng.random() < 0.1 and 1 + ring < n:
            out.append(int(rng.integers(1 + ring, n)))
    return _trace("ring_log", out, n)


def merge_passes(n: int, rng: np.random.Generator) -> Trace:
    """A balanced two-way merge sort between two buffers: each pass writes its output runs
    alternately to the two halves of the target buffer (run length doubling every pass), the
    buffers swapping roles from pass to pass."""
    h = n // 2
    q = h // 2
    out, run = [], int(rng.integers(1, 5))
    for p in range(4):
        target = h if p % 2 == 0 else 0
        cur = [0, 0]
        side = 0
        while cur[0] < q or cur[1] < q:
            if cur[side] >= q:
                side = 1 - side
            m = min(run, q - cur[side])
            out.extend(target + side * q + cur[side] + np.arange(m))
            cur[side] += m
            side = 1 - side
        run *= 2
    return _trace("merge_passes", out, n)


def matmul_ctiles(n: int, rng: np.random.Generator) -> Trace:
    """The C tiles of a blocked matrix multiply: rows of 1.25-3.75 pages (not page multiples),
    tiles of 8-32 rows x 0.5-2 pages of doubles, each tile updated once per k-block (2-4)."""
    rb = int(4096 * rng.choice([1.25, 1.5, 2.5, 3.75]))
    rows = max(1, n * 4096 // rb)
    tr = int(rng.integers(8, 33))
    tc = int(rng.choice([256, 512, 1024])) * 2  # elements (8 bytes) per tile row
    cols = rb // 8
    kb = int(rng.integers(2, 5))
    out = []
    for i0 in range(0, rows, tr):
        for j0 in range(0, cols, tc):
            for _ in range(kb):
                for r in range(i0, min(i0 + tr, rows)):
                    lo = r * rb + j0 * 8
                    hi = r * rb + min(j0 + tc, cols) * 8 - 1
                    out.extend(range(lo // 4096, min(hi // 4096, n - 1) + 1))
    return _trace("matmul_ctiles", out, n)


def sawtooth(n: int, rng: np.random.Generator) -> Trace:
    """A sliding stencil: forward about 8 pages, back about 4, again and again (net progress
    of a few pages per tooth)."""
    out, c = [], 0
    while c < n:
        f = int(rng.integers(6, 11))
        b = int(rng.integers(2, f - 3))
        out.extend(c + np.arange(f))
        out.extend(c + f - 2 - np.arange(b))
        c += f - b - 1
    return _trace("sawtooth", np.minimum(out, n - 1), n)


def stride2_records(n: int, rng: np.random.Generator) -> Trace:
    """Two-page records walked in order: 85% get only their first (header) page written,
    15% both pages, 10% are skipped (a stride-2 writer: a window of 1 ends on the next
    record's written header, so an end-of-window sentinel says it was used)."""
    recs = np.arange(n // 2)
    recs = recs[rng.random(recs.size) >= 0.1]
    both = rng.random(recs.size) < 0.15
    out = np.stack([2 * recs, np.where(both, 2 * recs + 1, -1)], axis=1).reshape(-1)
    return _trace("stride2_records", out[out >= 0], n)


def prove_then_random(n: int, rng: np.random.Generator) -> Trace:
    """A long sequential phase (half the region: every window proven, a large budget) that
    turns to uniform random writes over the whole region (a phase change after the budget
    has grown)."""
    start = int(rng.integers(0, n // 4 + 1))
    seq = start + np.arange(n // 2)
    return _trace("prove_then_random", np.concatenate([seq, rng.integers(0, n, size=n)]), n)


def size_class_runs(n: int, rng: np.random.Generator) -> Trace:
    """jemalloc-like size classes: runs of 1/2/4/8 pages carved back to back from an unaligned
    offset (so not aligned to their size), one current run per class filled in ascending
    order, the classes' allocations interleaved; 20% of the runs only partly used."""
    sizes = np.array([1, 2, 4, 8])
    starts: list[list[int]] = [[] for _ in sizes]
    s = int(rng.integers(1, 8))
    while s < n:
        c = int(rng.choice(4, p=[0.2, 0.3, 0.3, 0.2]))
        if s + sizes[c] > n:
            break
        starts[c].append(s)
        s += int(sizes[c])
    writes = []
    for c, size in enumerate(sizes):
        w = []
        for s0 in starts[c][: int(0.9 * len(starts[c])) or len(starts[c])]:
            m = int(size) if rng.random() >= 0.2 else int(rng.integers(1, size + 1))
            w.extend(s0 + np.arange(m))
        writes.append(w)
    order = np.concatenate([np.full(len(w), c) for c, w in enumerate(writes)])
    rng.shuffle(order)
    out = np.empty(order.size, dtype=np.int64)
    for c, w in enumerate(writes):
        out[order == c] = w
    return _trace("size_class_runs", out, n)


def radix_leaves(n: int, rng: np.random.Generator) -> Trace:
    """A radix tree / page-table-like index: interior nodes in the first 1/64 of the region,
    leaves in clusters of 16-48 pages at random places, inserts going to Zipf-chosen clusters
    (60% appending after the cluster's last leaf, else a random leaf), a new leaf sometimes
    writing its interior node."""
    nodes = max(1, n // 64)
    n_cl = max(1, n // 128)
    width = rng.integers(16, 49, size=n_cl)
    base = nodes + np.sort(rng.choice(max(1, n - nodes - 48), size=n_cl, replace=False))
    p = 1.0 / np.arange(1, n_cl + 1)
    p /= p.sum()
    last = np.full(n_cl, -1)
    out = []
    for _ in range(2 * n):
        c = int(rng.choice(n_cl, p=p))
        if rng.random() < 0.6:
            last[c] = min(last[c] + 1, width[c] - 1)
            leaf = int(last[c])
        else:
            leaf = int(rng.integers(width[c]))
        out.append(base[c] + leaf)
        if rng.random() < 0.05:
            out.append(c * nodes // n_cl)
    return _trace("radix_leaves", out, n)


def _process(name: str, rng: np.random.Generator, requests: int) -> Trace:
    """A forked child's short life over three regions (data, heap, stack): the stack top
    written downward, a few scattered globals, and per request a fresh heap buffer (a bump
    run of 2-16 pages) plus scattered object updates (refcounts) over the inherited heap."""
    d, h, s = int(rng.integers(32, 257)), int(rng.integers(1024, 8193)), int(rng.integers(32, 257))
    bump = int(rng.integers(h // 2, h - 64))
    out: list[int] = []
    for _ in range(requests):
        out.extend(d + h + s - 1 - np.arange(int(rng.integers(2, 9))))
        out.extend(rng.integers(0, d, size=int(rng.integers(1, 4))))
        m = int(rng.integers(2, 17))
        out.extend(d + (bump + np.arange(m)) % h)
        bump = (bump + m) % h
        out.extend(d + rng.integers(0, h, size=int(rng.integers(2, 12))))
    return _trace(name, out, d + h + s, region_sizes=np.array([d, h, s]))


def fork_exec(n: int, rng: np.random.Generator) -> Trace:
    """A child that execs soon: 1-3 requests' worth of writes (some 20-100 faults)."""
    return _process("fork_exec", rng, int(rng.integers(1, 4)))


def fork_worker(n: int, rng: np.random.Generator) -> Trace:
    """A prefork worker that serves 8-24 requests before its parent is measured (some
    150-300 faults)."""
    return _process("fork_worker", rng, int(rng.integers(8, 25)))


def many_vmas(n: int, rng: np.random.Generator) -> Trace:
    """A child's first writes to the small writable mappings of its shared libraries (.data,
    .got, .bss of 20-80 libraries: 1-16 pages each, one region each): per library a few of its
    pages, in ascending order or at random, libraries visited in random order and revisited."""
    sizes = rng.integers(1, 17, size=int(rng.integers(20, 81)))
    ends = np.cumsum(sizes)
    out: list[int] = []
    for lib in np.concatenate([rng.permutation(sizes.size), rng.integers(0, sizes.size, 20)]):
        size, lo = int(sizes[lib]), int(ends[lib] - sizes[lib])
        m = int(rng.integers(1, size + 1))
        inside = np.arange(m) if rng.random() < 0.5 else rng.permutation(size)[:m]
        out.extend(lo + inside)
    return _trace("many_vmas", out, int(ends[-1]), region_sizes=sizes)


BUILDERS: dict[str, Callable[[int, np.random.Generator], Trace]] = {
    f.__name__: f for f in (hash_probe, copying_gc, mark_bitmap, ring_log, merge_passes,
                            matmul_ctiles, sawtooth, stride2_records, prove_then_random,
                            size_class_runs, radix_leaves, fork_exec, fork_worker, many_vmas)}
"""Every pattern (name -> builder of a trace over about ``n`` pages). ``fork_exec``,
``fork_worker`` (three regions) and ``many_vmas`` (20-80) draw their own sizes, ignoring
``n``."""


def build(name: str, draw: int, n_pages: int | None = None) -> Trace:
    """Draw ``draw`` of pattern ``name``: region log-uniform in 512..16384 pages unless
    ``n_pages`` is given."""
    if name not in BUILDERS:
        raise ConfigError(f"--patterns: unknown pattern {name!r} (patterns: "
                          f"{', '.join(BUILDERS)})")
    idx = list(BUILDERS).index(name)
    rng = np.random.default_rng([AUDIT_SEED, idx, draw])
    n = int(n_pages) if n_pages is not None else int(round(np.exp(rng.uniform(np.log(512),
                                                                             np.log(16384)))))
    t = BUILDERS[name](n, rng)
    return Trace(pages=t.pages, n_pages=t.n_pages, name=f"{name}_{draw}", meta=t.meta,
                 region_sizes=t.region_sizes)


def bandit_for(dirs: Sequence[Path], costmodel: str) -> Any:
    """The bandit artifact (of ``dirs``) trained for ``costmodel``, else None."""
    from cowrl.policies.artifacts import load_policy, read_artifact

    for d in dirs:
        art = read_artifact(d)
        cfg = art.get("config") or {}
        if isinstance(cfg, str):
            cfg = json.loads(cfg)
        if (cfg.get("costmodel") or {}).get("name") == costmodel:
            return load_policy(art["_path"], name="bandit")
    return None


def variant(overrides: dict[str, Any]) -> Any:
    """``guarded`` as shipped with some of ``conf/policy/guarded.yaml``'s keys overridden
    (a diagnosis, never a choice: named ``guarded[key=value,...]``)."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config, make_policy

    name = "guarded[" + ",".join(f"{k}={v}" for k, v in overrides.items()) + "]"
    cfg = group_config("policy", "guarded")
    unknown = [k for k in overrides if k not in cfg]
    if unknown:
        raise ConfigError(f"--variants: {unknown[0]!r} is not a key of "
                          "conf/policy/guarded.yaml")
    return make_policy(OmegaConf.merge(cfg, {**overrides, "name": name}))


def run(costmodel: str, traces: Sequence[Trace], bandit_dirs: Sequence[Path],
        progress: bool = True, variants: Sequence[dict[str, Any]] = ()
        ) -> list[dict[str, Any]]:
    """The rows of :func:`cowrl.generalization.measure` for the audited policies (and the
    ``variants`` of guarded, after them)."""
    from tqdm import tqdm

    from cowrl.generalization import measure
    from cowrl.metrics import summarize
    from cowrl.registry import make_costmodel, make_policy
    from cowrl.sim.simulator import simulate

    cost = make_costmodel(costmodel)
    policies = [make_policy("baseline"), make_policy("guarded")]
    bandit = bandit_for(bandit_dirs, costmodel)
    if bandit is not None:
        policies.append(bandit)
    elif bandit_dirs:
        print(f"{costmodel}: no --bandit artifact trained for it; bandit left out")
    policies.append(make_policy("readahead"))
    policies += [variant(v) for v in variants]
    rows: list[dict[str, Any]] = []
    for t in tqdm(traces, desc=costmodel, disable=not progress, leave=False):
        got = measure(policies, [t], cost, 1.0)
        for p in policies:  # per-write latency: what the objective does not price
            lat = summarize(simulate(t, p, cost), 1.0, cost.page_cost_ns)
            for r in got:
                if r["policy"] == p.name:
                    r.update(write_p99_ns=lat["write_p99_ns"], write_max_ns=lat["write_max_ns"])
        for r in got:
            r.update(n_pages=t.n_pages, writes=t.writes)
        rows += got
    return rows


def report(costmodel: str, rows: Sequence[dict[str, Any]]) -> str:
    """One table (a row per trace) and the per-policy summary."""
    from cowrl.generalization import check_targets
    from cowrl.metrics import geomean

    pols = [p for p in ("baseline", "guarded", "bandit", "readahead") if any(
        r["policy"] == p for r in rows)]
    pols += [p for p in dict.fromkeys(r["policy"] for r in rows) if p.startswith("guarded[")]
    pols += ["precopy_best", "oracle"]
    by = {(r["trace"], r["policy"]): r for r in rows}
    traces = list(dict.fromkeys(r["trace"] for r in rows))
    sizes = {r["trace"]: (r["n_pages"], r["writes"]) for r in rows}
    lines = [f"## {costmodel} (lambda 1): objective / baseline, [/ best fixed k], "
             "wasted/precopied pages",
             "",
             "| trace | pages | writes | " + " | ".join(
                 "baseline faults" if p == "baseline" else p for p in pols) + " |",
             "|---|---|---|" + "---|" * len(pols)]
    for t in traces:
        cells = []
        for p in pols:
            r = by[(t, p)]
            if p == "baseline":
                cells.append(f"{r['faults']}")
            elif p == "precopy_best":
                cells.append(f"{r['ratio']:.3f} (k={r['best_k']})")
            elif p == "oracle":
                cells.append(f"{r['ratio']:.3f}")
            else:
                flag = " **!**" if r["ratio"] > SAFETY else ""
                cells.append(f"{r['ratio']:.3f}{flag} [{r['vs_best']:.2f}] "
                             f"{r['wasted']}/{r['precopied']}")
        lines.append(f"| {t} | {sizes[t][0]} | {sizes[t][1]} | " + " | ".join(cells) + " |")
    pats = list(dict.fromkeys(t.rsplit("_", 1)[0] for t in traces))
    shown = [p for p in pols if p != "baseline"]
    lines += ["", "Per pattern: geometric mean of objective / baseline over its draws "
              "(the worst draw in brackets)", "",
              "| pattern | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
    for pat in pats:
        cells = []
        for p in shown:
            rr = [r["ratio"] for r in rows
                  if r["policy"] == p and r["trace"].rsplit("_", 1)[0] == pat]
            cells.append(f"{geomean(rr):.3f} ({max(rr):.3f})")
        lines.append(f"| {pat} | " + " | ".join(cells) + " |")
    lines += ["", "| policy | gain | share of oracle | worst | over 1.02 | wasted/precopied "
              "| max write latency |", "|---|---|---|---|---|---|---|"]
    for p in pols:
        rr = [r for r in rows if r["policy"] == p]
        tg = check_targets(rr)
        share = "-" if tg["gain_share"] is None else f"{tg['gain_share']:.2f}"
        over = sum(r["ratio"] > SAFETY for r in rr)
        wp = "-" if p == "precopy_best" else f"{tg['wasted_all']}/" + str(
            sum(max(r["precopied"], 0) for r in rr))
        lat = [r["write_max_ns"] for r in rr if "write_max_ns" in r]
        lat_s = f"{max(lat) / 1000:.0f} us" if lat else "-"
        lines.append(f"| {p} | {100 * tg['gain']:+.1f}% | {share} | {tg['safety']:.4f} "
                     f"({tg['safety_trace']}) | {over}/{len(rr)} | {wp} | {lat_s} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bandit", type=Path, nargs="*", default=[],
                    help="train.py out= directories of the default bandit (one per cost model; "
                         "matched by the cost model it was trained for)")
    ap.add_argument("--costmodels", default="seed_table1,host")
    ap.add_argument("--patterns", default=",".join(BUILDERS))
    ap.add_argument("--draws", type=int, default=8, help="traces per pattern")
    ap.add_argument("--n-pages", type=int, default=None,
                    help="every region this size (default: log-uniform 512..16384 per draw)")
    ap.add_argument("--variants", nargs="*", default=[],
                    help="diagnosis: guarded with some guarded.yaml keys overridden, each a "
                         "JSON object (e.g. '{\"proof_ttl\": 0}')")
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    check_draws(args.draws)
    try:
        variants = [json.loads(v) for v in args.variants]
    except ValueError as e:
        ap.error(f"--variants: not JSON ({e})")
    if not all(isinstance(v, dict) and v for v in variants):
        ap.error("--variants: each must be a non-empty JSON object")
    traces = [build(p, d, args.n_pages) for p in args.patterns.split(",")
              for d in range(args.draws)]
    out: dict[str, list[dict[str, Any]]] = {}
    for cm in args.costmodels.split(","):
        out[cm] = run(cm, traces, args.bandit, progress=not args.no_progress,
                      variants=variants)
        print(report(cm, out[cm]), flush=True)
        print()
    if args.json is not None:
        args.json.write_text(json.dumps(out, default=float, indent=1))
    return out


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
