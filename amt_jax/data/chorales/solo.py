"""The ``solo`` config of ``chorales``: each voice (part) of a piece rendered alone, a monophonic
corpus for pitch estimators.

The piece keeps its split and program; each of its voices (the MIDI tracks music21 writes, one per
part, in score order: soprano 0 .. bass 3 for the usual SATB) is one example whose ``id`` is
``<piece>/<voice>`` (e.g. ``bwv269/0``): the piece, the part before the ``/``, stays the unit of
data (:func:`amt_jax.data.piece_of`). An example holds the voice's audio (rendered in tune with
tinysoundfont, on the piece's timeline: the voice's rests are silence), its notes, frames and onsets,
``instruments`` (the part's name, e.g. ``Soprano``) and ``f0`` ``[n_frames, 1]``: the equal-tempered
frequency in Hz of the voice's sounding note on each labelled frame (the frames its note covers in
``frames``), 0 where it rests. Unlike the other configs a voice's notes are not merged with the other
voices' (a unison stays in both voices).

Size: about 4.3 examples per piece (some chorales have instrumental parts besides SATB, up to 15),
so the train split passes tfds's 1 GB in-memory shuffle buffer at about 70 pieces, beyond which tfds
needs TensorFlow (not installed here): build it with ``--n-pieces 60`` or fewer.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from amt_jax.constants import MIDI_OFFSET, midi_to_hz
from amt_jax.data.examples import MAX_DURATION_S, BadPiece, make_example
from amt_jax.data.labels import Notes, clean, frame_count, make_notes, rolls


def parts_from_midi(midi) -> tuple[tuple[str, Notes], ...]:
    """``(name, notes)`` of every pitched, non-empty track of a ``pretty_midi.PrettyMIDI`` in file
    order (the voices of :func:`amt_jax.data.labels.voiced_notes_from_midi`), each track's notes
    :func:`~amt_jax.data.labels.clean` on their own."""
    out = []
    for inst in midi.instruments:
        if inst.is_drum or not inst.notes:
            continue
        notes = make_notes([n.start for n in inst.notes], [n.end for n in inst.notes],
                           [n.pitch for n in inst.notes], [n.velocity for n in inst.notes])
        out.append((inst.name.strip() or f"voice {len(out)}", clean(notes)))
    return tuple(out)


def export_parts(name: str) -> tuple[tuple[str, Notes], ...]:
    """Corpus piece ``name`` parsed with music21, written as MIDI and read back per part;
    ``BadPiece`` when it cannot be exported or holds no voice."""
    import pretty_midi
    from music21 import corpus

    try:
        score = corpus.parse(name)
        with tempfile.TemporaryDirectory(prefix="amt_jax_chorale_") as tmp:
            path = os.path.join(tmp, "piece.mid")
            score.write("midi", fp=path)
            parts = parts_from_midi(pretty_midi.PrettyMIDI(path))
    except Exception as exc:  # music21 / pretty_midi raise many types on pieces they cannot export
        raise BadPiece(f"music21 could not export {name} ({type(exc).__name__}: {exc})") from None
    if not parts:
        raise BadPiece(f"{name} has no pitched part")
    end = max(n.end_s for _, n in parts)
    if end > MAX_DURATION_S:
        raise BadPiece(f"{name} lasts {end:.0f} s (> {MAX_DURATION_S:.0f} s): corrupt timing")
    return parts


def voice_f0(notes: Notes, n_frames: int, *, name: str) -> np.ndarray:
    """The F0 of one voice on the frame grid: float32 ``[n_frames]`` Hz, the equal-tempered
    frequency of the note its frame roll (:func:`~amt_jax.data.labels.rolls`) marks, 0 where none
    does; ``BadPiece`` when two notes share a frame (the voice is not monophonic there)."""
    frames, _ = rolls(notes, n_frames=n_frames)
    per_frame = frames.sum(axis=1)
    if per_frame.max(initial=0) > 1:
        t = int(np.argmax(per_frame > 1))
        raise BadPiece(f"{name}: {int(per_frame[t])} notes sound at frame {t}; a solo voice needs one")
    keys = frames.argmax(axis=1) + MIDI_OFFSET
    return np.where(per_frame == 1, midi_to_hz(keys.astype(np.float64)), 0.0).astype(np.float32)


def solo_example(piece_id: str, voice: int, name: str, notes: Notes, audio: np.ndarray, program: int) -> dict:
    """The example of voice ``voice`` (part ``name``, ``notes``) of piece ``piece_id`` rendered as
    ``audio`` (``BadPiece`` as :func:`amt_jax.data.examples.make_example` and :func:`voice_f0`)."""
    f0 = voice_f0(notes, frame_count(np.asarray(audio).size), name=f"{piece_id}/{voice}")
    return make_example(piece_id=f"{piece_id}/{voice}", audio=audio, notes=notes, program=program,
                        f0=f0[:, None], instruments=(name,))
