"""Where the environments get their traces: generator specs, trace files and Trace objects.

Both :class:`~cowrl.envs.precopy_env.PrecopyEnv` and the batched
:class:`~cowrl.envs.vector.PrecopyVectorEnv` draw an episode's trace with
:func:`sample_trace`, so a vector env and N single envs seeded alike see the
same traces.

A workload is one of:

* a ``dict`` naming a generator of :data:`cowrl.traces.generators.GENERATORS`
  under ``"generator"`` (or a Hydra ``"_target_"`` ending in that name), plus
  that generator's parameters. A parameter given as a list is a set of
  choices: one is drawn per episode. Without a ``seed`` the generator's seed
  is drawn per episode, so every episode sees a fresh trace;
* a path to a trace file (``.npy``, ``.txt`` or ``.npz``), loaded once;
* a :class:`~cowrl.traces.io.Trace`.

Every random draw uses the generator passed in (the env's ``np_random``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import ConfigError, CowrlError, TraceError
from cowrl.sim.engine import written_mask as _written_mask
from cowrl.traces.generators import GENERATORS
from cowrl.traces.io import Trace, load_trace

WorkloadSpec = Mapping[str, Any] | str | os.PathLike | Trace

_SEED_HIGH = 2**31 - 1


def written_mask(trace: Trace) -> np.ndarray:
    """Pages the trace ever writes, one uint8 per page."""
    return _written_mask(trace.pages, trace.n_pages)


@dataclass
class FixedSource:
    """A trace known up front (file, Trace object or fully seeded generator spec)."""

    trace: Trace
    written: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.written = written_mask(self.trace)

    def draw(self, rng: np.random.Generator) -> tuple[Trace, np.ndarray]:
        return self.trace, self.written


@dataclass
class GeneratorSource:
    """A generator spec with per-episode draws (its seed and any list-valued parameter)."""

    generator: str
    fixed: dict[str, Any]
    choices: dict[str, list[Any]]

    def draw(self, rng: np.random.Generator) -> tuple[Trace, np.ndarray]:
        params = dict(self.fixed)
        for key in sorted(self.choices):
            opts = self.choices[key]
            params[key] = opts[int(rng.integers(len(opts)))]
        if "seed" not in params:
            params["seed"] = int(rng.integers(_SEED_HIGH))
        trace = GENERATORS[self.generator](**params)
        return trace, written_mask(trace)


Source = FixedSource | GeneratorSource


def _generator_source(spec: Mapping[str, Any], where: str) -> Source:
    params = dict(spec)
    gen = params.pop("generator", None)
    target = params.pop("_target_", None)
    if gen is None and isinstance(target, str):
        gen = target.rsplit(".", 1)[-1]
    if gen is None:
        raise ConfigError(f"{where}: a workload dict needs a 'generator' key "
                          f"(one of {sorted(GENERATORS)})")
    if gen not in GENERATORS:
        raise ConfigError(f"{where}.generator: unknown generator {gen!r} "
                          f"(choose from {sorted(GENERATORS)})")
    accepted = inspect.signature(GENERATORS[gen]).parameters
    for key in params:
        if key not in accepted:
            raise ConfigError(f"{where}.{key}: not a parameter of generator {gen!r} "
                              f"(accepted: {', '.join(accepted)})")
    choices: dict[str, list[Any]] = {}
    for key, value in list(params.items()):
        if isinstance(value, (list, tuple)):
            if len(value) == 0:
                raise ConfigError(f"{where}.{key}: an empty list of choices")
            choices[key] = list(params.pop(key))
    # Validate every choice once now, so bad values fail at construction, not mid-training.
    for key, opts in choices.items():
        for opt in opts:
            trial = {**params, **{c: o[0] for c, o in choices.items()}, key: opt}
            _try_generate(gen, trial, where)
    if not choices:
        trace = _try_generate(gen, params, where)
        if "seed" in params:
            return FixedSource(trace)
    return GeneratorSource(gen, params, choices)


def _try_generate(gen: str, params: dict[str, Any], where: str) -> Trace:
    try:
        return GENERATORS[gen](**params)
    except CowrlError as e:
        raise type(e)(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: generator {gen!r} rejected its parameters ({e})") from None


def parse_workloads(workloads: WorkloadSpec | Sequence[WorkloadSpec] | None,
                    field_name: str = "workloads") -> list[Source]:
    """Turn the ``workloads`` argument into sources; raise a one-line error naming the entry."""
    if workloads is None:
        # The generators' own defaults: no second copy of the suite's numbers here.
        return [_generator_source({"generator": g}, f"{field_name}[{i}]")
                for i, g in enumerate(GENERATORS)]
    if isinstance(workloads, (Mapping, str, os.PathLike, Trace)):
        workloads = [workloads]
    if not isinstance(workloads, Sequence) or len(workloads) == 0:
        raise ConfigError(f"{field_name}: expected a non-empty list of generator dicts, "
                          f"trace paths or Trace objects, got {workloads!r}")
    return [parse_one(w, f"{field_name}[{i}]") for i, w in enumerate(workloads)]


def parse_one(spec: WorkloadSpec, where: str) -> Source:
    """One workload entry (see the module docstring)."""
    if isinstance(spec, Trace):
        return FixedSource(spec)
    if isinstance(spec, (str, os.PathLike)):
        try:
            return FixedSource(load_trace(Path(spec)))
        except TraceError as e:  # name the field too: a workload name here is not a path
            raise TraceError(f"{where}: {e}") from None
    if isinstance(spec, Mapping):
        return _generator_source(spec, where)
    raise ConfigError(f"{where}: expected a generator dict, a trace path or a Trace, "
                      f"got {type(spec).__name__}")


def sample_trace(rng: np.random.Generator, sources: Sequence[Source]
                 ) -> tuple[Trace, np.ndarray]:
    """Draw one episode's trace (and its written-page mask) with ``rng``."""
    i = int(rng.integers(len(sources))) if len(sources) > 1 else 0
    return sources[i].draw(rng)
