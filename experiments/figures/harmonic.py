"""The seed harmonic family: importance of shuffling harmonics 1–h of a fundamental bin among themselves, beside a size-matched control (as many random bins, same draws), raw and per unit of input change |πX − X|; 95 % Monte Carlo CIs. A comb's bins co-vary, so the shuffle moves less input than the control: the gap is not evidence about harmonics (see harmonic_reliance)."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("harmonic", CAPTION))
