"""Figure ``per_instrument``; its caption is ``amt_jax.report.captions.CAPTIONS["per_instrument"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["per_instrument"]

if __name__ == "__main__":
    sys.exit(main("per_instrument", CAPTION))
