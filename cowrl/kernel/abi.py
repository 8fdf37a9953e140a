"""The module's ioctl ABI, read from ``kernel_module/cowrl_uapi.h`` (the single source; the
checkout's, or the copy a wheel ships as ``cowrl/kernel_module``: :mod:`cowrl.paths`).

The header's ``#define NAME <integer>`` lines become :data:`CONSTANTS`, its
structs become ``ctypes`` structures and its ``_IO*`` lines become ioctl
numbers computed the way ``<asm-generic/ioctl.h>`` does. This module uses the
standard library only: it also runs inside the guest, where importing numpy
costs seconds under TCG.
"""

from __future__ import annotations

import ctypes
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from cowrl import paths

UAPI_HEADER = paths.place("kernel_module") / "cowrl_uapi.h"
"""Where the header is: the checkout's ``kernel_module/``, else the wheel's copy."""
POLICY_HEADER = UAPI_HEADER.with_name("cowrl_policy.h")
"""The decision code's header (its ``#define COWRL_*`` integers: table limits)."""

_CTYPES = {"__u32": ctypes.c_uint32, "__s32": ctypes.c_int32, "__u64": ctypes.c_uint64,
           "__s64": ctypes.c_int64}

# asm-generic/ioctl.h
_IOC_NRBITS, _IOC_TYPEBITS, _IOC_SIZEBITS = 8, 8, 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_DIR = {"_IO": 0, "_IOW": 1, "_IOR": 2, "_IOWR": 3}


def _ioc(direction: int, typ: int, nr: int, size: int) -> int:
    return ((direction << _IOC_DIRSHIFT) | (typ << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT)
            | (size << _IOC_SIZESHIFT))


class Abi:
    """Constants, ctypes structs and ioctl numbers parsed from one uapi header."""

    def __init__(self, text: str) -> None:
        body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        self.constants: dict[str, int] = {}
        self.strings: dict[str, str] = {}
        for name, value in re.findall(r"^#define\s+(COWRL_\w+)\s+(.+?)\s*$", body, re.M):
            if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", value):
                self.constants[name] = int(value, 0)
            elif re.fullmatch(r'"[^"]*"', value):
                self.strings[name] = value[1:-1]
        self.structs: dict[str, type[ctypes.Structure]] = {}
        for name, fields in re.findall(r"struct\s+(\w+)\s*\{(.*?)\};", body, re.S):
            spec = []
            for ctype, fname in re.findall(r"(__[us]\d+)\s+(\w+)\s*;", fields):
                spec.append((fname, _CTYPES[ctype]))
            self.structs[name] = type(name, (ctypes.Structure,), {"_fields_": spec})
        self.ioctls: dict[str, int] = {}
        pat = r"^#define\s+(COWRL_IOC_\w+)\s+(_IO[RW]*)\((\w+),\s*(\d+)(?:,\s*struct\s+(\w+))?\)"
        for name, macro, magic, nr, struct in re.findall(pat, body, re.M):
            size = ctypes.sizeof(self.structs[struct]) if struct else 0
            self.ioctls[name] = _ioc(_IOC_DIR[macro], self.constants[magic], int(nr), size)

    @property
    def version(self) -> int:
        return self.constants["COWRL_ABI_VERSION"]

    @property
    def device(self) -> str:
        return "/dev/" + self.strings["COWRL_DEVICE_NAME"]

    def struct(self, name: str, **values: Any) -> ctypes.Structure:
        """A zeroed ``struct name`` with ``values`` set."""
        s = self.structs[name]()
        for k, v in values.items():
            setattr(s, k, v)
        return s

    def __getattr__(self, name: str) -> int:
        for table in ("constants", "ioctls"):
            d = self.__dict__.get(table, {})
            if name in d:
                return d[name]
        raise AttributeError(name)


def _read(header: str | Path) -> str:
    if Path(header) in (UAPI_HEADER, POLICY_HEADER) and not Path(header).is_file():
        paths.require("kernel_module")  # the directory is nowhere: one line naming the places
    return Path(header).read_text()


@lru_cache(maxsize=4)
def load_abi(header: str | Path = UAPI_HEADER) -> Abi:
    """Parse ``header`` (default: ``kernel_module/cowrl_uapi.h``, :data:`UAPI_HEADER`)."""
    return Abi(_read(header))


@lru_cache(maxsize=4)
def load_policy_constants(header: str | Path = POLICY_HEADER) -> dict[str, int]:
    """The integer ``#define COWRL_*`` of ``cowrl_policy.h`` (same one-line rule as the uapi)."""
    return Abi(_read(header)).constants


def record_dtype() -> Any:
    """A numpy dtype matching ``struct cowrl_record`` (imports numpy: host side only)."""
    import numpy as np

    rec = load_abi().structs["cowrl_record"]
    return np.dtype({"names": [f[0] for f in rec._fields_],
                     "formats": [np.dtype(f[1]) for f in rec._fields_],
                     "offsets": [getattr(rec, f[0]).offset for f in rec._fields_],
                     "itemsize": ctypes.sizeof(rec)})
