"""The calibration's configuration schema (values live in ``conf/calibrate.yaml``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cowrl.errors import ConfigError, int_field


def _ints(field_name: str, value: Any, minimum: int = 1) -> list[int]:
    if isinstance(value, (int, str)) or value is None:
        value = [value]
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(f"{field_name} must be integers >= {minimum}, got {v!r}")
        out.append(int(v))
    if not out:
        raise ConfigError(f"{field_name} must not be empty")
    return out


def _posint(field_name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{field_name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass
class HostBenchConfig:
    """Microbenchmarks on the running kernel (``target=host``)."""

    region_pages: list[int] = field(default_factory=lambda: [256, 1024, 4096, 16384])
    reps: int = 5
    warmup_reps: int = 1
    """Forks per configuration measured and thrown away first: a VM's first touch of
    guest memory costs an extra exit to the hypervisor that is not a COW cost."""
    populate_batches: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    memcpy_pages: int = 16384
    thp: str = "auto"
    """``auto``: measure THP when the kernel offers it; ``on``: require it; ``off``: skip."""
    thp_region_pages: list[int] = field(default_factory=lambda: [1024, 4096])
    cc: str = "cc"

    def __post_init__(self) -> None:
        p = "host_bench."
        self.region_pages = _ints(p + "region_pages", self.region_pages)
        self.reps = _posint(p + "reps", self.reps)
        self.warmup_reps = _posint(p + "warmup_reps", self.warmup_reps, 0)
        self.populate_batches = _ints(p + "populate_batches", self.populate_batches)
        if len(set(self.populate_batches)) < 2:
            raise ConfigError(f"{p}populate_batches needs two different batch sizes to fit a "
                              f"per-page slope, got {self.populate_batches}")
        if sum(b <= max(self.region_pages) for b in set(self.populate_batches)) < 2:
            raise ConfigError(f"{p}populate_batches: two batch sizes must fit in the largest "
                              f"region ({max(self.region_pages)} pages)")
        self.memcpy_pages = _posint(p + "memcpy_pages", self.memcpy_pages)
        if self.thp not in ("auto", "on", "off"):
            raise ConfigError(f"{p}thp must be auto, on or off, got {self.thp!r}")
        self.thp_region_pages = _ints(p + "thp_region_pages", self.thp_region_pages, 512)


@dataclass
class KernelBenchConfig:
    """Static-degree runs through the kernel target (``target=kernel``)."""

    ks: list[int] = field(default_factory=lambda: [0, 1, 2, 4, 8, 16])
    region_pages: list[int] = field(default_factory=lambda: [1024, 8192])
    hugepage: bool = True
    reverse: bool = True
    """Also run a reverse trace (smallest region, static k): its windows cover pages that
    are already private, which identifies ``precopy_skip_ns``."""
    reps: int = 3
    """Runs of each (policy, trace) in the one boot; their faults are pooled."""
    decide: bool = True
    """Also run a table policy that always chooses k = 0 (module TABLE mode) on the
    sequential traces: against the static k = 0 runs it identifies ``decide_ns``."""

    def __post_init__(self) -> None:
        p = "kernel_bench."
        self.ks = _ints(p + "ks", self.ks, 0)
        if len(set(self.ks)) < 2:
            raise ConfigError(f"{p}ks needs two different degrees to fit precopy_ns, "
                              f"got {self.ks}")
        self.region_pages = _ints(p + "region_pages", self.region_pages, 2)
        self.reps = _posint(p + "reps", self.reps)
        if not isinstance(self.hugepage, bool):
            raise ConfigError(f"{p}hugepage must be true or false, got {self.hugepage!r}")
        if not isinstance(self.reverse, bool):
            raise ConfigError(f"{p}reverse must be true or false, got {self.reverse!r}")
        if not isinstance(self.decide, bool):
            raise ConfigError(f"{p}decide must be true or false, got {self.decide!r}")
        if self.decide and 0 not in self.ks:
            raise ConfigError(f"{p}decide: the table k=0 runs are compared with static k=0 "
                              f"runs; add 0 to ks (got {self.ks})")
        if self.hugepage and max(self.region_pages) < 512:
            raise ConfigError(f"{p}region_pages: the hugepage runs need a region of at "
                              f"least 512 pages, got {self.region_pages}")


QUICK_HOST = {"region_pages": [256, 1024], "reps": 2, "warmup_reps": 1,
              "populate_batches": [1, 4, 16], "memcpy_pages": 1024,
              "thp_region_pages": [1024]}
QUICK_KERNEL = {"ks": [0, 1, 4], "region_pages": [1024], "reps": 1}


@dataclass
class CalibrationConfig:
    """Everything ``calibrate(cfg)`` reads; built from the Hydra config by :meth:`from_cfg`."""

    target: Any = None
    """The target measured: a :class:`cowrl.targets.Target` that replays traces
    (``kernel``, ``kernel_sim``) or a calibration-only one (``host``), built from
    ``conf/target/<name>.yaml``."""
    name: str | None = None
    """Output file stem; None = the target's ``calibration_name``."""
    out_dir: str | None = None
    quick: bool = False
    seed: int = 0
    progress: bool = True
    trim_factor: float = 10.0
    """Drop samples above this multiple of their run's median (preemptions); 0 keeps all."""
    host_bench: HostBenchConfig = field(default_factory=HostBenchConfig)
    kernel_bench: KernelBenchConfig = field(default_factory=KernelBenchConfig)

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> CalibrationConfig:
        """Validate a (Hydra or plain) mapping; every error is one line naming its field."""
        from cowrl.targets import make_target

        if hasattr(cfg, "_metadata"):
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        data = dict(cfg)
        name = data.get("name")
        if name is not None and (not isinstance(name, str)
                                 or not re.fullmatch(r"[A-Za-z0-9_.-]+", name)):
            raise ConfigError(f"name must be a file stem (letters, digits, _ . -), got {name!r}")
        quick = data.get("quick", False)
        if not isinstance(quick, bool):
            raise ConfigError(f"quick must be true or false, got {quick!r}")
        trim = data.get("trim_factor", 10.0)
        if isinstance(trim, bool) or not isinstance(trim, (int, float)) or trim < 0:
            raise ConfigError(f"trim_factor must be a number >= 0, got {trim!r}")
        seed = int_field(data, "seed", 0, default=0)  # the simulators' default_rng refuses < 0
        host = dict(data.get("host_bench") or {})
        kern = dict(data.get("kernel_bench") or {})
        if quick:
            host, kern = _quick(HostBenchConfig, host, QUICK_HOST), _quick(
                KernelBenchConfig, kern, QUICK_KERNEL)
        host_bench = _build(HostBenchConfig, host, "host_bench")
        kernel_bench = _build(KernelBenchConfig, kern, "kernel_bench")
        target = make_target(data.get("target", "host"), kernel=data.get("kernel"))
        return cls(target=target, name=name, out_dir=data.get("out_dir"), quick=quick,
                   seed=seed, progress=bool(data.get("progress", True)), trim_factor=float(trim),
                   host_bench=host_bench, kernel_bench=kernel_bench)


def _quick(cls: type, given: dict[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    """``quick=true``: ``preset`` for every field of ``given`` left at ``cls``'s default; a
    value the user set otherwise (``quick=true host_bench.reps=3``) is kept."""
    default = cls()
    return {**given, **{k: v for k, v in preset.items()
                        if given.get(k, getattr(default, k)) == getattr(default, k)}}


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown field "
                          f"(known: {', '.join(sorted(known))})")
    return cls(**data)
