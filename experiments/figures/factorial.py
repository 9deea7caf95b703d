"""The missing fundamental: the drop of a sounding key's own output when its fundamental (F), its harmonics 2..h (H) or both are replaced by the same bins of other frames, and the interaction v(F∪H) − v(F) − v(H); 95 % piece-level CIs."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("factorial", CAPTION))
