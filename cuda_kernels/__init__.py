"""CUDA C kernel sources of gpudrizzle (package data, read with importlib.resources)."""
