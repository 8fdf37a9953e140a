"""What the snapshotting process feels, per policy: ``snapshot.md`` of an ``eval.py`` run.

For a recorded snapshot trace (``redis_bgsave``: the parent's COW faults from
the BGSAVE fork to the child's end) every write of the trace lies in the
snapshot window, so the row's per-write p99 and max are the window's; the COW
memory is what the parent made private (demand faults plus precopied pages)
and what of it was wasted (precopied, never written).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

PAGE_MIB = 4096 / 2**20


def snapshot_rows(rows: Sequence[dict[str, Any]], workloads: Sequence[str]
                  ) -> list[dict[str, Any]]:
    """One line per (workload, policy) of ``workloads``, ordered by workload then cow_ns."""
    out = []
    for r in rows:
        if r["workload"] not in workloads:
            continue
        private = int(r["faults"]) + int(r["precopied"])
        out.append({"workload": r["workload"], "policy": r["policy"],
                    "write_p99_us": r["write_p99_ns"] / 1e3,
                    "write_max_us": r["write_max_ns"] / 1e3,
                    "cow_ms": r["cow_ns"] / 1e6, "faults": int(r["faults"]),
                    "private_pages": private, "private_mib": private * PAGE_MIB,
                    "wasted_pages": int(r["wasted"]), "wasted_mib": int(r["wasted"]) * PAGE_MIB})
    return sorted(out, key=lambda d: (d["workload"], d["cow_ms"]))


def write_snapshot_table(out: Path, rows: Sequence[dict[str, Any]], workloads: Sequence[str],
                         target: str = "") -> str:
    """Write ``out/snapshot.md`` (and return it): the snapshot window per policy."""
    lines = [f"# The snapshot window{f' ({target})' if target else ''}", "",
             "Every write of a recorded snapshot trace falls between the fork and the "
             "snapshot child's end, so these per-write figures are the window's. Private = "
             "pages the parent copied (demand faults + precopied); wasted = precopied, "
             "never written.", "",
             "| workload | policy | write p99 µs | write max µs | COW ms | faults | "
             "private pages (MiB) | wasted pages (MiB) |", "|---|---|---|---|---|---|---|---|"]
    for d in snapshot_rows(rows, workloads):
        lines.append(f"| {d['workload']} | {d['policy']} | {d['write_p99_us']:.2f} | "
                     f"{d['write_max_us']:.2f} | {d['cow_ms']:.1f} | {d['faults']} | "
                     f"{d['private_pages']} ({d['private_mib']:.1f}) | {d['wasted_pages']} "
                     f"({d['wasted_mib']:.1f}) |")
    text = "\n".join(lines) + "\n"
    (out / "snapshot.md").write_text(text)
    print(text)
    return text
