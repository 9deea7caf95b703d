"""Per instrument (General MIDI program of the pieces): the reliance contrast, the factorial interaction, semitone pooling and the whole-axis shuffle, mean over the program's pieces with a t CI over them (blank with one piece)."""

import sys

from experiments.figures import main

CAPTION = __doc__

if __name__ == "__main__":
    sys.exit(main("per_instrument", CAPTION))
