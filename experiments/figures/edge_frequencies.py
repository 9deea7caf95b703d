"""Under flat noise (one distribution for every bin): the output per key (95 % jackknife t CI), the per-bin first-order sensitivity S_f with the reverse-correlation kernel's R², and the kernel [F × P]."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("edge_frequencies", CAPTION))
