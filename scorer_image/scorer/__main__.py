"""``python -m scorer``: the same as the ``scorefleet-scorer`` console script."""

import sys

from scorer.main import main

sys.exit(main())
