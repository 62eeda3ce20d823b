"""`python -m services.matching.evaluation [--quick] [--json FILE]`."""

import sys

from .retrieval import main

sys.exit(main())
