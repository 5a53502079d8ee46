"""``python -m lossgrad``: the ``lossgrad`` command (see :mod:`lossgrad.cli`)."""

import sys

from lossgrad.cli import main

if __name__ == "__main__":
    sys.exit(main())
