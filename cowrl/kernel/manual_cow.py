"""``manual_cow``: break copy-on-write for a range of this process's memory (seed §6).

With the cowrl module loaded this is its ``COWRL_IOC_MANUAL_COW`` ioctl (which
write-faults every page with ``fixup_user_fault``, leaving the data as it
was); otherwise it is ``madvise(MADV_POPULATE_WRITE)`` (Linux >= 5.14), which
write-faults the same pages from the kernel's side. Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import mmap
import os
from typing import Any

from cowrl.errors import CowrlError
from cowrl.kernel.abi import load_abi

MADV_POPULATE_WRITE = 23
PAGE_SIZE = mmap.PAGESIZE

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.restype = ctypes.c_int


def buffer_address(buf: Any) -> int:
    """Address of a writable buffer (mmap, bytearray, ctypes array, numpy array) or an int."""
    if isinstance(buf, int):
        return buf
    if hasattr(buf, "__array_interface__"):
        return int(buf.__array_interface__["data"][0])
    if isinstance(buf, ctypes.Array):
        return ctypes.addressof(buf)
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(buf))
    except TypeError as e:
        raise CowrlError(f"manual_cow needs a writable buffer or an address, got "
                         f"{type(buf).__name__} ({e})") from None


def module_loaded() -> bool:
    """True when /dev/cowrl exists and this process may open it (root: the node is 0600)."""
    dev = load_abi().device
    return os.path.exists(dev) and os.access(dev, os.R_OK | os.W_OK)


def manual_cow_module(addr: int, length: int, flags: int = 0) -> int:
    """The ioctl path (``addr`` and ``length`` page aligned; needs CAP_SYS_ADMIN); returns
    pages visited, raises OSError with the module's errno."""
    abi = load_abi()
    arg = abi.struct("cowrl_manual_cow", addr=addr, len=length, flags=flags)
    fd = os.open(abi.device, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, abi.COWRL_IOC_MANUAL_COW, arg)
    finally:
        os.close(fd)
    return int(arg.pages)


def manual_cow_madvise(addr: int, length: int) -> int:
    """The fallback: ``madvise(MADV_POPULATE_WRITE)`` over the page-aligned range."""
    start = addr & ~(PAGE_SIZE - 1)
    end = (addr + length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if length <= 0 or end <= start:
        return 0
    if _libc.madvise(start, end - start, MADV_POPULATE_WRITE) != 0:
        err = ctypes.get_errno()
        if err == errno.ENOMEM:  # madvise's word for "not mapped"
            err = errno.EFAULT
        raise OSError(err, f"madvise(MADV_POPULATE_WRITE): {os.strerror(err)}")
    return (end - start) // PAGE_SIZE


def manual_cow(buf_or_addr: Any, length: int, *, use_module: bool | None = None) -> int:
    """Make every page of ``[addr, addr+length)`` private to this process; data is unchanged.

    Uses the module when it is loaded (``use_module=None``), else madvise.
    Returns the number of pages visited. Raises ``OSError`` (``EINVAL`` for a
    range that overflows, ``EFAULT`` for an unmapped one).
    """
    addr = buffer_address(buf_or_addr)
    if length < 0:
        raise CowrlError(f"manual_cow length must be >= 0, got {length}")
    if addr < 0 or addr + length > 2**64 - 1:
        raise OSError(errno.EINVAL, "manual_cow: address range overflows")
    if length == 0:  # no page (rounding would visit the page of an unaligned address)
        return 0
    if use_module is None:
        use_module = module_loaded()
    if use_module:
        start = addr & ~(PAGE_SIZE - 1)  # the ioctl takes whole pages only
        end = (addr + length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        return manual_cow_module(start, end - start)
    return manual_cow_madvise(addr, length)
