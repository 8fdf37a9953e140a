"""Whether a forked process's COW faults land on virtual pages its siblings already wrote.

    python experiments/sibling_history.py [--corpus data/traces] [--traces a,b]

A diagnosis, not a policy: nothing is learned, tuned or simulated, and no policy, program or
module keeps any cross-process history today. For each recorded trace with at least two
writers (``Trace.writer``: the processes of one recording), it asks whether "copy ahead the
pages a sibling already wrote" would be a precise window.

Definitions (per trace; a *process* is one ``writer`` value with at least one write):

- a page's virtual page number is ``vpn = page + region_vpn_offsets[r]`` (``r`` its region):
  a forked child keeps its parent's addresses, so one vpn names the same page in every
  process;
- *time* is ``t_ns`` (ns since the fork, one guest clock for every process: the recorder
  takes each fault's start time and sorts the trace by it, so comparing it across processes
  is meaningful). A trace without ``t_ns`` falls back to the write's index (trace order) and
  the table labels it ``trace order``;
- a process's *faults* are its first write to each vpn, in its own write order (the
  trace's). The *first* process is the one whose first write comes first in time;
  ``faults`` sums the faults of the other processes only, and every other column counts on
  those processes only;
- ``sib before``: share of those faults at ``(v, t)`` where a process other than this one
  wrote ``v`` at a time strictly before ``t`` (a sibling write at the same or a later time
  does not count);
- the sibling window: at each fault of process ``P`` on ``v`` at time ``t``, the pages
  ``v + 1 .. v + 64`` of the fault's region (clipped at its end) that another process wrote
  strictly before ``t`` and that ``P`` has not written yet (its first write of the page comes
  later in ``P``'s order, or never). ``sib copied``: the distinct pages some window of ``P``
  chooses (a page is counted once per process, when first chosen; later windows do not copy
  it again), summed over processes; ``sib prec``: the share of them ``P`` writes later (1 -
  the waste share); ``sib removed``: the share of the faults whose page an earlier window of
  ``P`` chose (every page chosen and later written is one, since it was not yet written when
  chosen);
- ``all copied`` / ``all prec`` / ``all removed``: the same window without the sibling
  filter (pages ``v + 1 .. v + 64`` of the region not yet written by ``P``).

Simplification: windows are opened at every fault of the baseline (a process writing with no
copies), also at faults an earlier window would have removed; so ``removed`` is an upper
bound for the rule, not a replayed policy's figure. No cost is charged.

The generator families (development draws) write as one process (no ``writer``), so only
recorded traces are read. Run it on the training corpus (``data/traces``) only; never on the
validation traces or the never-seen programs to choose anything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cowrl.errors import ConfigError
from cowrl.traces.io import Trace

WINDOW = 64
"""Pages after the fault a window may copy (``DEGREES``' largest)."""

COLS = ("faults", "sib before", "sib copied", "sib used", "all copied", "all used")
"""What :func:`sibling_history` counts (``* used``: copied pages the process writes later,
which are also the faults the window removes)."""


def _time(trace: Trace) -> tuple[np.ndarray, str]:
    """Per write, the time the columns compare across processes, and its label."""
    if trace.t_ns is not None:
        return np.asarray(trace.t_ns, dtype=np.int64), "t_ns"
    return np.arange(trace.writes, dtype=np.int64), "trace order"


def processes(trace: Trace) -> list[int]:
    """The trace's writers in the order of their first write in time (``t_ns``, else the
    trace's order; ties by the trace's order); empty without ``writer``."""
    if trace.writer is None:
        return []
    w = np.asarray(trace.writer)
    t, _ = _time(trace)
    order = np.lexsort((np.arange(w.size), t))
    ids, first = np.unique(w[order], return_index=True)
    return [int(ids[i]) for i in np.argsort(first, kind="stable")]


def _lookup(keys: np.ndarray, values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per entry of ``q``, the value of the equal entry of the sorted ``keys``, else
    int64's largest (never)."""
    never = np.iinfo(np.int64).max
    if keys.size == 0:
        return np.full(q.shape, never, dtype=np.int64)
    i = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    return np.where(keys[i] == q, values[i], never)


def sibling_history(trace: Trace, window: int = WINDOW) -> tuple[dict[str, int], str]:
    """The module docstring's counts (``COLS``; ``* used`` are the pages a window copied that
    the process writes later, i.e. the faults it removes) and the time's label."""
    t, label = _time(trace)
    pages = np.asarray(trace.pages, dtype=np.int64)
    ends = trace.region_ends
    region = trace.region_of(pages)
    vpn = pages + trace.region_vpn_offsets[region]
    writer = np.asarray(trace.writer, dtype=np.int64)
    out = dict.fromkeys(COLS, 0)
    for p in processes(trace)[1:]:
        mine = np.nonzero(writer == p)[0]
        other = np.nonzero(writer != p)[0]
        # the earliest write of each vpn by another process
        o = other[np.lexsort((t[other], vpn[other]))]
        o_vpn, o_first = np.unique(vpn[o], return_index=True)
        o_time = t[o][o_first]

        # this process's faults: its first write of each vpn, in its own order
        u_vpn, u_first = np.unique(vpn[mine], return_index=True)
        f = mine[np.sort(u_first)]  # write indices of the faults, in order
        f_vpn, f_t, f_page = vpn[f], t[f], pages[f]
        rank = np.arange(f.size, dtype=np.int64)  # the fault's place in P's order
        u_rank = np.argsort(np.argsort(u_first))  # each u_vpn's fault's place in P's order
        out["faults"] += int(f.size)
        out["sib before"] += int(np.count_nonzero(_lookup(o_vpn, o_time, f_vpn) < f_t))
        # candidates: (fault i, page f_page[i] + d) inside the fault's region
        d = np.arange(1, window + 1, dtype=np.int64)
        end = ends[region[f]]
        cand_page = f_page[:, None] + d[None, :]
        inside = cand_page < end[:, None]
        cand_vpn = (f_vpn[:, None] + d[None, :])[inside]
        cand_i = np.broadcast_to(rank[:, None], inside.shape)[inside]
        cand_t = np.broadcast_to(f_t[:, None], inside.shape)[inside]
        not_yet = _lookup(u_vpn, u_rank, cand_vpn) > cand_i  # P writes it later, or never
        sib = _lookup(o_vpn, o_time, cand_vpn) < cand_t  # another process wrote it before
        for name, ok in (("sib", not_yet & sib), ("all", not_yet)):
            chosen = np.unique(cand_vpn[ok])
            out[f"{name} copied"] += int(chosen.size)
            out[f"{name} used"] += int(np.count_nonzero(np.isin(chosen, u_vpn)))
    return out, label


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def table(rows: dict[str, tuple[int, dict[str, int], str]]) -> list[str]:
    """One line per trace (its processes, time, counts) and a total line."""
    lines = ["| trace | processes | time | faults | sib before | sib copied | sib prec | "
             "sib removed | all copied | all prec | all removed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def line(name: str, n: int, r: dict[str, int], label: str) -> str:
        return (f"| {name} | {n} | {label} | {r['faults']} | "
                f"{_pct(r['sib before'], r['faults'])} | {r['sib copied']} | "
                f"{_pct(r['sib used'], r['sib copied'])} | "
                f"{_pct(r['sib used'], r['faults'])} | {r['all copied']} | "
                f"{_pct(r['all used'], r['all copied'])} | "
                f"{_pct(r['all used'], r['faults'])} |")

    for name, (n, r, label) in rows.items():
        lines.append(line(name, n, r, label))
    total = {c: sum(r[c] for _, r, _ in rows.values()) for c in COLS}
    labels = sorted({lb for _, _, lb in rows.values()})
    lines.append(line("total", sum(n for n, _, _ in rows.values()), total,
                      "/".join(labels) or "-"))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None,
                    help="directory of recorded .npz traces (default: data/traces, the "
                         "training corpus)")
    ap.add_argument("--traces", default="",
                    help="comma-separated trace names (file stems) of the corpus "
                         "(default: every trace with at least two writers)")
    args = ap.parse_args(argv)
    from cowrl.paths import project_path
    from cowrl.traces.io import load_trace

    corpus = Path(args.corpus) if args.corpus else Path(project_path("data/traces"))
    if not corpus.is_dir():
        raise ConfigError(f"--corpus: {corpus} is not a directory of .npz traces")
    files = {f.stem: f for f in sorted(corpus.glob("*.npz"))}
    if not files:
        raise ConfigError(f"--corpus: {corpus} holds no .npz trace")
    names = [n.strip() for n in args.traces.split(",") if n.strip()]
    bad = [n for n in names if n not in files]
    if bad:
        raise ConfigError(f"--traces: no trace {bad[0]!r} in {corpus} (traces: "
                          f"{', '.join(files)})")
    rows: dict[str, tuple[int, dict[str, int], str]] = {}
    skipped: list[str] = []
    for name in names or list(files):
        trace = load_trace(files[name])
        n = len(processes(trace))
        if n < 2:
            skipped.append(name)
            continue
        r, label = sibling_history(trace)
        rows[name] = (n, r, label)
    print(f"COW faults on pages a sibling process wrote earlier ({args.corpus or 'data/traces'}"
          "; faults of "
          f"every process but the first; windows copy up to {WINDOW} pages after the fault; "
          f"prec: copied pages the process writes later; removed: share of faults)")
    if skipped:
        print(f"fewer than two writers, left out: {', '.join(skipped)}")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    from cowrl.cli import run_script

    run_script(main)
