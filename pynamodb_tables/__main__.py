"""``python -m pynamodb_tables``: the management script (see :mod:`pynamodb_tables.management`)."""

import sys

from .management import main

if __name__ == "__main__":  # not when a spawned demo worker imports this module
    sys.exit(main())
