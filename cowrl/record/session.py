"""The guest side of one recording: the module observing only (k=0), its drain, maps snapshots.

A :class:`Session` loads the module (through ``kguest``, the running
``cowrl/kernel/guest.py``: no import back, so no cycle) with precopy off,
drains ``/dev/cowrl`` continuously into ``OUT/records.bin`` from a thread (so
the ring never fills while the program runs) and snapshots ``/proc/PID/maps``
of the watched processes into ``OUT/maps.jsonl``. Standard library only.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from cowrl.kernel.abi import load_abi

READ_RECORDS = 4096  # records per read(2): 192 KiB, well under one drain period's worth
DRAIN_SLEEP_S = 0.002
MAPS_PERIOD_S = 0.05


class RecordError(Exception):
    """The program failed (non-zero exit, timeout): one line, reported to the host."""


class Session:
    """The module, the drain thread and the maps snapshots of one recording."""

    def __init__(self, out: Path, module: str, kguest: Any) -> None:
        self.abi = load_abi()
        self.out = out
        if not kguest.module_is_loaded():
            kguest.load_module(module)
        self.fd = os.open(self.abi.device, os.O_RDWR)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_RESET)
        off = self.abi.struct("cowrl_policy", mode=self.abi.COWRL_POLICY_OFF)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_SET_POLICY, bytes(off))
        self.rec_size = self.abi.structs["cowrl_record"]
        import ctypes

        self.rec_bytes = ctypes.sizeof(self.rec_size)
        self.records = (out / "records.bin").open("wb")
        self.maps = (out / "maps.jsonl").open("w")
        self.watched: dict[int, bool] = {}
        self.marks: dict[str, int] = {}
        self.n_records = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drain = threading.Thread(target=self._drain_loop, daemon=True)
        self._mapper = threading.Thread(target=self._maps_loop, daemon=True)
        self._drain.start()
        self._mapper.start()

    # -- module ------------------------------------------------------------------------
    def register(self, pid: int, children: bool = False) -> None:
        """Watch ``pid`` (and its descendants with ``children``) over the whole user range."""
        flags = self.abi.COWRL_TARGET_CHILDREN if children else 0
        tg = self.abi.struct("cowrl_target", pid=pid, flags=flags, start=0,
                             len=0x7FFF_FFFF_F000)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_REGISTER, bytes(tg))
        with self._lock:
            self.watched[pid] = children
        self.snapshot_maps()

    def mark(self, name: str) -> int:
        """Record CLOCK_MONOTONIC now (the module's ktime_get_ns clock) under ``name``."""
        t = time.monotonic_ns()
        self.marks[name] = t
        return t

    def counters(self) -> dict[str, int]:
        c = self.abi.struct("cowrl_counters")
        raw = bytearray(bytes(c))
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_COUNTERS, raw)
        c = type(c).from_buffer_copy(bytes(raw))
        return {f: int(getattr(c, f)) for f, _ in c._fields_}

    def _read_once(self) -> int:
        try:
            buf = os.read(self.fd, READ_RECORDS * self.rec_bytes)
        except OSError:
            return 0
        if buf:
            self.records.write(buf)
            self.n_records += len(buf) // self.rec_bytes
        return len(buf)

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            if not self._read_once():
                time.sleep(DRAIN_SLEEP_S)

    # -- address-space snapshots -------------------------------------------------------
    def _pids(self) -> list[int]:
        """Watched processes plus, for CHILDREN targets, their descendants now alive."""
        with self._lock:
            roots = dict(self.watched)
        pids = list(roots)
        stack = [p for p, ch in roots.items() if ch]
        while stack:
            p = stack.pop()
            try:
                kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                pids.append(k)
                stack.append(k)
        return pids

    def snapshot_maps(self) -> None:
        t = time.monotonic_ns()
        for pid in self._pids():
            try:
                text = Path(f"/proc/{pid}/maps").read_text()
            except OSError:
                continue
            vmas = []
            for line in text.splitlines():
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                vmas.append([lo, hi, parts[1], parts[5] if len(parts) > 5 else ""])
            self.maps.write(json.dumps({"t_ns": t, "pid": pid, "vmas": vmas}) + "\n")

    def _maps_loop(self) -> None:
        while not self._stop.wait(MAPS_PERIOD_S):
            self.snapshot_maps()

    def close(self) -> dict[str, Any]:
        self.snapshot_maps()
        self._stop.set()
        self._drain.join()
        self._mapper.join()
        cnt = self.counters()
        tg = self.abi.struct("cowrl_target", pid=0)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_UNREGISTER, bytes(tg))
        while self._read_once():
            pass
        self.records.close()
        self.maps.close()
        os.close(self.fd)
        return cnt
