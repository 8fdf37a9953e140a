"""Calibrating the cost model from measurements, and measuring how well the simulator predicts.

* :func:`calibrate` (``python calibrate.py target=host|kernel``) measures a target,
  fits ``conf/costmodel/<name>.yaml`` and records where every number came from.
* :mod:`cowrl.calibration.fit` holds the least squares and noise fits.
* :mod:`cowrl.calibration.fidelity` compares simulator and kernel results
  (``experiments/fidelity.py``).
"""

from cowrl.calibration.run import calibrate

__all__ = ["calibrate"]
