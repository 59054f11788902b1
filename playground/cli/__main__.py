"""``python -m playground.cli``."""

import sys

from . import main

sys.exit(main())
