"""The seed microtonal family: shuffling the B bins of one semitone, per key (95 % Monte Carlo CI over its draws; keys only), and of every semitone vs B across models."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("microtonal", CAPTION))
