"""One harmonic draw: the features X of a clip, πX (the draw of the largest effect among those tried; moved bins marked), and the model's note output before and after."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("example", CAPTION))
