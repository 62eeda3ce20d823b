"""`python -m services.matching.evaluation [--quick] [--json FILE] [--esco-dir DIR]`."""

import sys

from .quality import main

sys.exit(main())
