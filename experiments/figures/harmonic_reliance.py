"""Harmonic reliance: the drop of the output of the key q whose harmonics 2..h were swapped with mistuned bins (diagonal), of the co-sounding keys whose combs the draw left untouched (off-diagonal), and their contrast, vs h, with 95 % piece-level CIs; right: R[q, p], the mean drop at key p when q's harmonics moved."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("harmonic_reliance", CAPTION))
