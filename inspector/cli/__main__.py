"""``python -m inspector.cli``."""

import sys

from . import main

sys.exit(main())
