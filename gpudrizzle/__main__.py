"""``python -m gpudrizzle``: the ``gpudrizzle`` command."""

import sys

from gpudrizzle.cli import main

if __name__ == "__main__":
    sys.exit(main())
