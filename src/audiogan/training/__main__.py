"""`python -m audiogan.training`: the training command line (also what torchrun workers run)."""

import sys

from audiogan.training.launcher import main

sys.exit(main())
