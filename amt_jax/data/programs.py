"""The General MIDI programs of the default corpus (a light module: no tfds import)."""

# General MIDI programs (0-based) given to pieces in turn; 7 is coprime with the 10-piece split cycle,
# so every split sees every program once it has 7 pieces.
PROGRAMS = (
    (0, "Acoustic Grand Piano"),
    (20, "Reed Organ"),
    (48, "String Ensemble 1"),
    (71, "Clarinet"),
    (24, "Acoustic Guitar (nylon)"),
    (73, "Flute"),
    (6, "Harpsichord"),
)
