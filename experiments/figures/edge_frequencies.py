"""Figure ``edge_frequencies``; its caption is ``amt_jax.report.captions.CAPTIONS["edge_frequencies"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["edge_frequencies"]

if __name__ == "__main__":
    sys.exit(main("edge_frequencies", CAPTION))
