"""Configuration of the kernel target (Hydra group ``kernel``; YAML in ``conf/kernel/``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowrl.errors import ConfigError

ICOUNT_MAX_SHIFT = 10
# What a field of each annotated type must hold (icount, kernel_release and release: their
# own checks, since Hydra reads a series such as 6.12 as a float).
_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "bool": ((bool,), "true or false"), "int": ((int,), "an integer"),
    "float": ((int, float), "a number"), "str": ((str,), "a string")}


def normalise_icount(v: Any) -> str | int:
    """``off`` | ``auto`` | an integer shift 0..10 (YAML's bare ``off`` is False)."""
    if v is False or (isinstance(v, str) and v.strip().lower() in ("off", "false", "none")):
        return "off"
    if isinstance(v, str) and v.strip().lower() == "auto":
        return "auto"
    if isinstance(v, bool) or v is None:
        raise ConfigError(f"kernel.icount must be off, auto or a shift 0..{ICOUNT_MAX_SHIFT}, "
                          f"got {v!r}")
    try:
        n = int(v)
    except (TypeError, ValueError):
        n = -1
    if str(v).strip() != str(n) or not 0 <= n <= ICOUNT_MAX_SHIFT:
        raise ConfigError(f"kernel.icount must be off, auto or a shift 0..{ICOUNT_MAX_SHIFT}, "
                          f"got {v!r}")
    return n


def _series_text(v: Any, field: str) -> str:
    """A kernel release as text: Hydra reads ``6.12`` as a float, so a number is a series.
    ``6.10`` would read as ``6.1``: such a series must be quoted."""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ConfigError(f"{field} must be a kernel release such as 6.1, 6.12 or "
                          f"6.1.0-57-amd64, got {v!r}")
    text = str(v).strip()
    if not text:
        raise ConfigError(f"{field} must not be empty (auto, a series such as 6.12, or a flavour)")
    return text


@dataclass
class KernelConfig:
    """How to reach a Linux kernel with the cowrl module loaded.

    ``runner``: ``qemu`` boots a Debian kernel under qemu (default); ``host``
    loads the module into the running kernel (root, headers and module
    support needed).
    """

    runner: str = "qemu"
    accel: str = "auto"
    """qemu accelerator: ``auto`` probes KVM (result cached) then falls back to ``tcg``."""
    icount: str | int = 0
    """TCG guest clock. An integer ``N`` (default 0): ``-icount shift=N,sleep=off`` with
    single-threaded TCG, guest time = 2**N ns per guest instruction executed, so identical
    runs take identical guest time whatever the host load (deterministic; ns rank work, not
    wall latency). ``off``: guest time is host time (multi-threaded TCG; host preemption
    lands inside latencies). ``auto``: ``-icount shift=auto`` (adaptive, follows host time;
    not deterministic). Ignored under KVM and by the host runner."""
    tcg_threads: str = "multi"
    """TCG without icount: ``multi`` (one host thread per vCPU: real SMP races) or
    ``single`` (all vCPUs round-robin on one host thread). Under multi-threaded TCG a vCPU
    can still run a stale ``int3`` that kernel text patching (ftrace, static keys) has
    already removed, and 6.12 oopses on it (docs/kernel.md, "The 6.12 reload crash");
    ``single`` has no such window. With icount TCG is always single-threaded."""
    kvm_probe_timeout_s: float = 20.0
    kvm_cpu: str = "host"
    boot_timeout_s: float = 180.0
    """Seconds from qemu start until the guest starts the job."""
    timeout_s: float = 3600.0
    """Seconds for the whole guest session (boot, all runs, checks)."""
    run_timeout_s: float = 600.0
    """Seconds for one harness run (or check) inside the session: a hung run fails alone."""
    memory_mb: int = 2048
    cpus: int = 2
    kernel_release: str = "auto"
    """Debian kernel flavour, e.g. ``6.1.0-57-amd64``; ``auto`` = the newest installed headers;
    a series: ``6.1`` = the newest installed 6.1 headers (Debian 12's), ``6.12`` = Debian 13's
    newest 6.12 (image and headers fetched from the trixie suite)."""
    release: str | None = None
    """Short spelling of ``kernel_release`` (``kernel.release=6.12`` on a command line); when
    set, it wins. A bare number is read as a series (Hydra parses ``6.12`` as a float)."""
    cache_dir: str = "~/.cache/cowrl"
    writer: str = "child"
    """Who writes after fork: ``child`` (as in the seed) or ``parent`` (Redis BGSAVE style)."""
    thp: str = "policy"
    """``policy``: THP ``madvise`` for policies with ``thp=True``, ``never`` for the rest."""
    module: bool = True
    """Load the module; ``False`` runs the harness without it (no counts, baseline only)."""
    module_params: str = ""
    """Parameters for loading the module, e.g. ``time_decisions=1`` (ktime around each TABLE
    decision; off by default, it costs more than the decision)."""
    warmup: bool = True
    """Run the first (policy, trace) once more at session start and discard it: the first
    run after boot pays cold caches (and, under TCG, code translation) and would be biased."""
    repeats: int = 1
    """Runs per (policy, trace), policy order rotated each repeat; the median-cow_ns run is kept."""
    keep_jobs: bool = False
    """Keep the job directory (traces, raw harness files, serial log) after a run."""
    pin_pcp_high: bool = True
    """qemu runner: on a guest kernel that auto-tunes the per-CPU free lists' ``high``
    (Linux 6.7+, so 6.12, not 6.1), fix it at its floor (``vm.percpu_pagelist_high_fraction``,
    ``cowrl/kernel/guest.py: pin_pcp_high``) before the runs. Otherwise ``high`` drifts with
    guest time that 9p waits advance by host-timed amounts, and runs doing the same work read
    up to about 3% apart under icount (docs/kernel.md, "Guest clock under TCG"). ``false``
    keeps the kernel's own tuning. The host runner never changes the host's setting."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # Hydra passes what the command line says
            if f.name == "kernel_release" or str(f.type) not in _KINDS:
                continue
            kinds, text = _KINDS[str(f.type)]
            v = getattr(self, f.name)
            if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
                raise ConfigError(f"kernel.{f.name} must be {text}, got {v!r}")
            if str(f.type) == "float" and not v > 0:
                raise ConfigError(f"kernel.{f.name} must be positive, got {v!r}")
        choices = {"runner": ("qemu", "host"), "accel": ("auto", "kvm", "tcg"),
                   "writer": ("child", "parent"), "thp": ("policy",),
                   "tcg_threads": ("multi", "single")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                hint = f" (qemu's accelerator is kernel.accel={getattr(self, name)})" \
                    if name == "runner" and getattr(self, name) in ("kvm", "tcg") else ""
                raise ConfigError(f"kernel.{name} must be one of {allowed}, "
                                  f"got {getattr(self, name)!r}{hint}")
        self.icount = normalise_icount(self.icount)
        if self.release is not None:
            self.kernel_release = _series_text(self.release, "kernel.release")
            self.release = None
        self.kernel_release = _series_text(self.kernel_release, "kernel.kernel_release")
        if not 0 < float(self.run_timeout_s) < float(self.timeout_s):
            raise ConfigError("kernel.run_timeout_s must be positive and below kernel.timeout_s")
        for name in ("memory_mb", "cpus", "repeats"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"kernel.{name} must be positive")

    def icount_mode(self, accel: str) -> str:
        """The guest clock a run under ``accel`` uses: ``off`` or qemu's -icount argument."""
        if accel != "tcg" or self.runner != "qemu" or self.icount == "off":
            return "off"
        if self.icount == "auto":
            return "shift=auto"
        return f"shift={self.icount},sleep=off"

    def guest_cpus(self, accel: str) -> int:
        """vCPUs of the guest: ``cpus``, but 1 under icount (qemu 7.2's round-robin TCG with
        -icount hangs the x86 kernel at SMP bring-up, "x86: Booting SMP configuration")."""
        return 1 if self.icount_mode(accel) != "off" else int(self.cpus)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @classmethod
    def from_any(cls, cfg: KernelConfig | Mapping[str, Any] | None) -> KernelConfig:
        """Accept a KernelConfig, a dict or an OmegaConf node (unknown keys are errors)."""
        if cfg is None:
            return cls()
        if isinstance(cfg, KernelConfig):
            return cfg
        if hasattr(cfg, "_metadata"):  # DictConfig, without importing omegaconf here
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in dict(cfg).items() if k not in ("_target_", "name")}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown kernel config field(s): {', '.join(unknown)}")
        return cls(**data)
