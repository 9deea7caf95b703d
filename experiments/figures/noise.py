"""Figure ``noise``; its caption is ``amt_jax.report.captions.CAPTIONS["noise"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["noise"]

if __name__ == "__main__":
    sys.exit(main("noise", CAPTION))
