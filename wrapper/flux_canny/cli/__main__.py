"""`python -m flux_canny.cli`: the same as the `flux-canny` command."""

import sys

from . import main

sys.exit(main())
