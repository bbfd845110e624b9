"""`python -m flux_canny`: the same as the `flux-canny` command."""

import sys

from .cli import main

sys.exit(main())
