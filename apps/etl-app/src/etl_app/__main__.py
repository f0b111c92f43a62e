"""``python -m etl_app``: the same as the ``etl-app`` console script."""

import sys

from etl_app._cli import main

if __name__ == "__main__":
    sys.exit(main())
