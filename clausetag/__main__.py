"""``python -m clausetag …``: the same as the ``clausetag`` command."""

import sys

from clausetag.cli import main

if __name__ == "__main__":
    sys.exit(main())
