"""Figure ``random_spectral``; its caption is ``amt_jax.report.captions.CAPTIONS["random_spectral"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["random_spectral"]

if __name__ == "__main__":
    sys.exit(main("random_spectral", CAPTION))
