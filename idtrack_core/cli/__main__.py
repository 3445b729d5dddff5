"""``python -m idtrack_core.cli``."""

import sys

from idtrack_core.cli import main

sys.exit(main())
