"""Random spectral shuffles of the whole axis and of 3-octave bands (95 % Monte Carlo CIs); the summary reports them relative to the whole-axis shuffle."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("random_spectral", CAPTION))
