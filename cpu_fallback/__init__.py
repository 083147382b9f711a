"""Numpy reference implementations of the gpudrizzle kernels."""
