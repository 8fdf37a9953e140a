"""The kernel target: the cowrl module, the replay harness and the qemu/host runners.

Used through :class:`cowrl.targets.kernel.KernelTarget`; one guest session is
:func:`cowrl.kernel.backend.run_session`. This package's
``__init__`` imports nothing heavy: ``guest.py``, ``abi.py`` and
``manual_cow.py`` also run inside the qemu guest.
"""
