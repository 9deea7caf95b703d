"""Figure ``harmonic_reliance``; its caption is ``amt_jax.report.captions.CAPTIONS["harmonic_reliance"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["harmonic_reliance"]

if __name__ == "__main__":
    sys.exit(main("harmonic_reliance", CAPTION))
