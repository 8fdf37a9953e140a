"""Which demand faults a window *after* an earlier fault can reach, and which only one around it.

    python experiments/backward_reach.py [--draws 3] [--first 2000] [--groups 4,16,64] [--corpus]

A diagnosis, not a policy: nothing is learned, tuned or simulated. Every window cowrl's
policies open copies pages *after* the faulting one (at most 64; ``guarded``'s align arms to
the end of the fault's aligned group). Allocator pools written in random order (the
``alloc_pool`` family with ``shuffle``) first touch a group somewhere in its middle, and the
group's pages below that first touch can be copied ahead only by a window that reaches
backwards. This script counts, in the baseline's order of faults (every page's first write;
a policy that copies changes which pages fault, so these are reach bounds of the baseline's
faults, not a policy's figures), for each trace:

- ``after 64``: faults on a page ``p`` where a page of ``[p - 64, p)`` of its region had its
  first write earlier: a window of at most 64 pages opened at that earlier fault could have
  copied ``p`` (a loose bound: dense random writes reach almost every page this way, at the
  price of wide windows);
- per aligned group size G (virtual pages: the region's recorded address; clipped to the
  region): ``below G``, faults where a page of ``p``'s group below ``p`` had its first write
  earlier (a window after that fault, to the end of the group, reaches ``p``: ``guarded``'s
  align arm), and ``above only G``, the other faults where a page of the group above ``p``
  had its first write earlier (only a window over the whole group, reaching below its fault,
  reaches ``p``); ``above only G, whole``: those in a group whose every page is written
  (the whole group copied at the earlier fault would waste nothing).

Shares of the baseline's faults, per family (development draws, seeds 2000+: ``randomized(
first + i, 0, families=F)``) and, with ``--corpus``, per recorded program of ``data/traces``
(the training corpus). Never run it on the validation traces or the never-seen programs to
choose anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cowrl.devdraws import add_draw_arguments, check_draws, check_first, draw_groups
from cowrl.errors import ConfigError
from cowrl.traces.generators import FAMILIES
from cowrl.traces.io import Trace

REACH = 64
"""The longest window after a fault (``DEGREES``' largest)."""


def reach(trace: Trace, groups: Sequence[int]) -> dict[str, int]:
    """``faults`` (distinct pages written), ``after 64`` and, per G of ``groups``, ``below G``,
    ``above only G`` and ``above only G, whole``, as the module docstring defines them."""
    pages = np.asarray(trace.pages, dtype=np.int64)
    faulted, t_first = np.unique(pages, return_index=True)
    never = np.iinfo(np.int64).max
    first = np.full(trace.n_pages, never, dtype=np.int64)
    first[faulted] = t_first
    ends = trace.region_ends
    region = trace.region_of(faulted)
    begin = trace.region_begins[region]
    end = ends[region]
    vpn = faulted + trace.region_vpn_offsets[region]

    def earlier(lo: np.ndarray, hi: np.ndarray, span: int) -> np.ndarray:
        """Per fault, whether a page of ``lo .. hi - 1`` (at most ``span`` pages from ``lo``)
        had its first write before the fault's."""
        out = np.full(faulted.size, never, dtype=np.int64)
        for d in range(span):
            q = lo + d
            ok = q < hi
            out = np.where(ok, np.minimum(out, first[np.where(ok, q, 0)]), out)
        return out < t_first

    out = {"faults": int(faulted.size),
           f"after {REACH}": int(np.count_nonzero(
               earlier(np.maximum(begin, faulted - REACH), faulted, REACH)))}
    written = first < never
    for g in groups:
        start = np.maximum(begin, faulted - vpn % g)
        stop = np.minimum(end, faulted - vpn % g + g)
        below = earlier(start, faulted, g - 1)
        above = earlier(faulted + 1, stop, g - 1) & ~below
        whole = np.ones(faulted.size, dtype=bool)  # every page of the group written
        for d in range(g):
            q = start + d
            whole &= (q >= stop) | written[np.minimum(q, trace.n_pages - 1)]
        out[f"below {g}"] = int(np.count_nonzero(below))
        out[f"above only {g}"] = int(np.count_nonzero(above))
        out[f"above only {g}, whole"] = int(np.count_nonzero(above & whole))
    return out


def _groups(text: str) -> list[int]:
    try:
        gs = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"--groups: comma-separated powers of two in 2..64, got {text!r}"
                          ) from None
    if not gs or any(g < 2 or g > REACH or g & (g - 1) for g in gs):
        raise ConfigError(f"--groups: comma-separated powers of two in 2..64, got {text!r}")
    return gs


def table(rows: dict[str, list[dict[str, int]]], groups: Sequence[int]) -> list[str]:
    """One line per set: its faults and the shares of them, summed over its traces."""
    cols = [f"after {REACH}", *(c for g in groups for c in (
        f"below {g}", f"above only {g}", f"above only {g}, whole"))]
    lines = ["| set | traces | faults | " + " | ".join(cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for name, rs in rows.items():
        n = sum(r["faults"] for r in rs)
        lines.append(f"| {name} | {len(rs)} | {n} | " + " | ".join(
            f"{100 * sum(r[c] for r in rs) / n:.1f}%" for c in cols) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3, help="development draws per family")
    ap.add_argument("--families", default=",".join(FAMILIES),
                    help="comma-separated families (default: all)")
    ap.add_argument("--groups", default="4,16,64",
                    help="aligned group sizes (powers of two, 2..64)")
    ap.add_argument("--corpus", action="store_true",
                    help="also each recorded program of data/traces (the training corpus)")
    add_draw_arguments(ap, heldout=False)
    args = ap.parse_args(argv)
    check_first(args.first)
    check_draws(args.draws)
    groups = _groups(args.groups)
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        raise ConfigError(f"--families: one of {', '.join(FAMILIES)}, got {args.families!r}")
    rows: dict[str, list[dict[str, int]]] = {}
    for fam, traces in draw_groups(fams, args.draws, args.first).items():
        rows[fam] = [reach(t, groups) for t in traces]
    if args.corpus:
        from cowrl.paths import project_path
        from cowrl.traces.io import load_trace

        for f in sorted(Path(project_path("data/traces")).glob("*.npz")):
            rows[f.stem] = [reach(load_trace(f), groups)]
    print(f"Baseline faults by the windows that could reach them (draws {args.first}.."
          f"{args.first + args.draws - 1} per family{', and data/traces' if args.corpus else ''}"
          f"; after {REACH}: within {REACH} pages after an earlier fault; below G: after an "
          "earlier fault in its aligned group of G; above only G: only from an earlier fault "
          "above it in the group)")
    print("\n".join(table(rows, groups)))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
