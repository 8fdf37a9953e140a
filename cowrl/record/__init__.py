"""Record real programs' COW fault streams inside the guest kernel (``python record.py``).

The guest side (:mod:`cowrl.record.guest`, :mod:`cowrl.record.drivers`) uses
the standard library only, like :mod:`cowrl.kernel.guest`; the host side
(:mod:`cowrl.record.recorder`) turns the module's records into a trace.
"""
