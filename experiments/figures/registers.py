"""Figure ``registers``; its caption is ``amt_jax.report.captions.CAPTIONS["registers"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["registers"]

if __name__ == "__main__":
    sys.exit(main("registers", CAPTION))
