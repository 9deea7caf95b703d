"""Semitone pooling: each key's semitone replaced by its mean, per key (one key per draw) and for every key at once (95 % piece-level CI); 0 by construction at B = 1, so models of different B compare."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("resolution", CAPTION))
