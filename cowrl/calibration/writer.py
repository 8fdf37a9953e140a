"""Write a calibrated cost model as ``conf/costmodel/<name>.yaml`` (the seed_table1 format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cowrl.errors import ConfigError
from cowrl.sim.costmodel import PARAM_FIELDS

_FIELD_COMMENTS = {
    "fault_ns": "What a trap adds to breaking COW on one page (entry/exit, dispatch, lookup).",
    "copy_ns": "Breaking COW on one page without a trap: allocate, copy 4 KiB, update the PTE.",
    "precopy_ns": "Marginal cost of one precopied page inside a demand fault (no trap).",
    "thp_split_ns": "Extra cost of the first demand fault in a 2 MiB THP (PMD split).",
    "write_ns": "A timed write that takes no fault (includes the timer pair).",
    "precopy_setup_ns": "Fixed cost of a demand fault that queues precopy work (k > 0): "
                        "task_work, mmap lock.",
    "precopy_skip_ns": "A precopy window page walked but already private (checked, "
                       "not copied).",
    "decide_ns": "Deciding k at run time at a demand fault (module TABLE mode; table and "
                 "adaptive policies only).",
}


def costmodel_yaml(name: str, params: dict[str, Any], provenance: dict[str, Any],
                   header: str, thp_model: str = "cowrl.sim.costmodel.SplitThenCopy") -> str:
    """The YAML text of a cost model: commented fields, then provenance."""
    lines = [f"# {h}" if h else "#" for h in header.strip().splitlines()]
    lines += ["_target_: cowrl.sim.costmodel.CostModel", f"name: {name}"]
    for f in PARAM_FIELDS:
        v = params.get(f)
        if v is None:
            raise ConfigError(f"costmodel.{f}: no value to write for {name!r}")
        if not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"costmodel.{f} must be a number >= 0, got {v!r}")
        lines += [f"# {_FIELD_COMMENTS[f]}", f"{f}: {float(v):.1f}"]
    progs = params.get("decide_program_ns") or {}
    if progs:
        lines += ["# The same for module programs that decide otherwise than a TABLE lookup "
                  "(GUARDED: its", "# page-table reads included), charged instead of decide_ns.",
                  "decide_program_ns:"] + [f"  {k}: {float(v):.1f}" for k, v in progs.items()]
    clean = params.get("proof_clean_ns")
    if clean is not None:  # measured apart (experiments/bench_kernel_proof.py), not fitted
        lines += ["# NOT fitted by calibrate.py: kept from the previous file (the dirty-bit clean "
                  "per page a", "# proof: 1 window copies; experiments/bench_kernel_proof.py, "
                  "docs/kernel.md \"Interior proofs\").", f"proof_clean_ns: {float(clean):.1f}"]
    read = params.get("proof_read_ns")
    if read is not None:  # measured apart (experiments/bench_kernel_proof.py --what read)
        lines += ["# NOT fitted by calibrate.py: kept from the previous file (one proof read that "
                  "finds", "# its page unwritten, charged proof_ttl times per copied page).",
                  f"proof_read_ns: {float(read):.1f}"]
    for f, what in (("proof_step_ns", "a proof look's step over an empty ring slot"),
                    ("proof_skip_ns", "a proof look's step over a live entry it does not read"),
                    ("proof_jump_ns", "a proof look's jump from an empty slot to a live one"),
                    ("proof_duejump_ns", "a proof look's jump to the next slot not waiting"),
                    ("proof_duescan_ns", "a due-map refresh's look at one waiting entry")):
        v = params.get(f)
        if v is not None:  # measured apart (experiments/bench_kernel_proof.py, bench_kernel_hook)
            lines += [f"# NOT fitted by calibrate.py: kept from the previous file ({what},",
                      "# charged per step by the engine).", f"{f}: {float(v):.1f}"]
    stride = params.get("precopy_stride_ns")
    if stride is not None:  # measured apart (experiments/bench_kernel_stride.py), not fitted
        lines += ["# NOT fitted by calibrate.py: kept from the previous file (what a strided "
                  "precopy window's", "# page costs more than an adjacent one's, charged per "
                  "strided page walked).", f"precopy_stride_ns: {float(stride):.1f}"]
    lines += [
        "noise:",
        "  kind: none   # expected values; set lognormal to draw per-fault noise",
        f"  sigma: {float(params.get('sigma', 0.0)):.3f}   # fitted: RMS of log(latency/median)",
        "thp_model:",
        f"  _target_: {thp_model}",
    ]
    body = yaml.dump({"provenance": _plain(provenance)}, Dumper=_Dumper, sort_keys=False,
                     default_flow_style=False, width=100, allow_unicode=True)
    return "\n".join(lines) + "\n" + body


def write_costmodel(path: Path, name: str, params: dict[str, Any], provenance: dict[str, Any],
                    header: str, thp_model: str = "cowrl.sim.costmodel.SplitThenCopy") -> Path:
    kept = [f for f in ("proof_clean_ns", "proof_read_ns", "proof_step_ns", "proof_skip_ns",
                        "proof_jump_ns", "proof_duejump_ns", "proof_duescan_ns",
                        "precopy_stride_ns")
            if f not in params]
    if kept and path.is_file():  # not fitted: keep them
        old = yaml.safe_load(path.read_text()) or {}
        params = {**params, **{f: old[f] for f in kept if old.get(f) is not None}}
    text = costmodel_yaml(name, params, provenance, header, thp_model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


class _Dumper(yaml.SafeDumper):
    """Block mappings, but short lists of scalars on one line."""


def _repr_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _repr_list)


def _plain(o: Any) -> Any:
    """numpy scalars and tuples to plain YAML types."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if hasattr(o, "item") and callable(o.item):
        return o.item()
    return o
