"""Figure ``example``; its caption is ``amt_jax.report.captions.CAPTIONS["example"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["example"]

if __name__ == "__main__":
    sys.exit(main("example", CAPTION))
