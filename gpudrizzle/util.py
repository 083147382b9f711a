"""drizzlepac ``util`` look-alike: the helpers drizzlepac scripts import from there."""

from .config import build_configobj

__all__ = ["build_configobj"]
