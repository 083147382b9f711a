"""The allowed values of AstroDrizzle's choice options, in one place.

A leaf module: it imports nothing from the package, so :mod:`gpudrizzle.params`
and the steps (:mod:`gpudrizzle.median`, :mod:`gpudrizzle.sky`, the kernels
in :mod:`gpudrizzle.kernels`) all read their lists here without importing
each other.
"""

__all__ = ["DRIZZLE_KERNELS", "BLOT_INTERPOLANTS", "COMBINE_TYPES", "SKY_METHODS", "SKY_STATS",
           "SKYSTAT_OPTIONS"]

#: Drizzle kernels, in the order of the ``K_*`` enum of ``drizzle.cu``.
DRIZZLE_KERNELS = ("square", "turbo", "point", "gaussian", "lanczos2", "lanczos3")

#: Blot interpolants, in the order of the ``I_*`` enum of ``blot.cu``.
BLOT_INTERPOLANTS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5", "sinc")

#: Values of ``combine_type``.
COMBINE_TYPES = ("median", "mean", "minmed", "imedian", "imean", "iminmed", "sum")

#: Supported ``skymethod`` values.
SKY_METHODS = ("localmin", "globalmin", "match", "globalmin+match")

#: Statistics :func:`gpudrizzle.sky.compute_sky` accepts.
SKY_STATS = ("median", "mode", "mean", "midpt")

#: Values of the ``skystat`` parameter (drizzlepac's; ``midpt`` only from Python).
SKYSTAT_OPTIONS = ("median", "mode", "mean")
