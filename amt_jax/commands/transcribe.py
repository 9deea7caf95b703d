"""``python -m amt_jax transcribe IN -o OUT``: whole-file transcription.

A note model (Basic Pitch, trained models) writes MIDI; a pitch tracker (a model whose output is a
pitch distribution, e.g. ``--model pesto``) writes a CSV ``time,frequency,confidence``: one row
per ``--step-ms`` frame, time in seconds (frame t is centred on t·step), the frequency in Hz of
the distribution's argmax-local weighted average and the model's voicing confidence in [0, 1]
(PESTO's own CLI writes the same columns, its time in milliseconds).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

from amt_jax import validate
from amt_jax.models import registry
from amt_jax.transcription import notes
from amt_jax.io import atomic_write
from amt_jax.constants import SAMPLE_RATE

HELP = ("Transcribe an audio file (wav/flac/mp3/..., any rate, mono or stereo) to MIDI with Basic Pitch (or a trained "
        "model), or to a pitch-track CSV with a pitch tracker (--model pesto).")
STEP_MS = 10.0  # a pitch tracker's default frame step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="audio file (anything librosa reads)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write (a pitch tracker: CSV time,frequency,confidence; replaced atomically)")
    parser.add_argument(
        "--onset-threshold",
        type=float,
        default=notes.ONSET_THRESHOLD,
        help="minimum onset peak that starts a note (default %(default)s)",
    )
    parser.add_argument(
        "--frame-threshold",
        type=float,
        default=notes.FRAME_THRESHOLD,
        help="minimum note activation that sustains a note (default %(default)s)",
    )
    parser.add_argument(
        "--min-note-length",
        type=float,
        default=notes.MIN_NOTE_LENGTH_S,
        metavar="SECONDS",
        help=f"drop notes not longer than this (default %(default)s s = {notes.MIN_NOTE_FRAMES} frames)",
    )
    parser.add_argument("--no-melodia-trick", action="store_true", help="skip notes grown from leftover activation")
    parser.add_argument("--no-pitch-bends", action="store_true", help="write no pitch-bend events")
    parser.add_argument("--batch-size", type=int, default=8, help="model windows per batch (default %(default)s)")
    parser.add_argument("--model", default="basic-pitch",
                        help="model spec: basic-pitch (default), pesto (pitch tracker), trained:DIR or a bare training DIR, "
                             "random:SPEC, py:FILE.py:FUNCTION (a model with note and onset outputs or a pitch distribution)")
    parser.add_argument("--step-ms", type=float, default=None, metavar="MS",
                        help=f"a pitch tracker's frame step in milliseconds (default {STEP_MS:g})")


def run(args: argparse.Namespace) -> int:
    if not args.output.parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {args.output.parent}")
    if args.output.is_dir():
        raise IsADirectoryError(f"output must be a file path, got a directory: {args.output}")
    notes.check_options(  # options are checked before the slow part
        onset_threshold=args.onset_threshold,
        frame_threshold=args.frame_threshold,
        min_note_frames=notes.min_note_frames(args.min_note_length),
    )
    validate.positive_int("--batch-size", args.batch_size)
    if args.step_ms is not None and not (args.step_ms > 0 and args.step_ms < float("inf")):
        raise ValueError(f"--step-ms must be a positive number of milliseconds, got {args.step_ms}")
    spec = registry.cli_spec(args.model)
    registry.check(spec)
    from amt_jax.frontend import audio  # heavy (librosa, JAX): imported only when run
    from amt_jax.transcription import inference

    with _quiet_stderr():  # some decoders (mpg123) print to the C-level stderr
        samples = audio.load_audio(args.input)
    model = registry.load(spec)
    if model.tracks_pitch:
        return _pitch_track_csv(args, model)
    if args.step_ms is not None:
        raise ValueError(f"--step-ms applies to pitch trackers; model {spec!r} transcribes notes")
    model.require_sample_rate(SAMPLE_RATE, "transcribe")
    model.require_outputs(("note", "onset"), "transcribe's note decoding")
    posteriorgrams = inference.transcribe_audio(samples, model=model, batch_size=args.batch_size)
    events = notes.decode_notes(
        posteriorgrams["note"],
        posteriorgrams["onset"],
        onset_threshold=args.onset_threshold,
        frame_threshold=args.frame_threshold,
        min_note_length_s=args.min_note_length,
        melodia_trick=not args.no_melodia_trick,
        contour=None if args.no_pitch_bends else posteriorgrams.get("contour"),
    )
    midi = notes.notes_to_midi(events)
    buf = io.BytesIO()
    midi.write(buf)
    atomic_write(args.output, buf.getvalue())
    duration_s = samples.shape[0] / SAMPLE_RATE
    print(f"wrote {len(events)} notes ({duration_s:.2f} s of audio) to {args.output}")
    return 0


def _pitch_track_csv(args: argparse.Namespace, model) -> int:
    """Write a pitch tracker's ``time,frequency,confidence`` CSV for the whole file."""
    import jax
    import numpy as np

    from amt_jax.frontend import audio

    step_ms = STEP_MS if args.step_ms is None else args.step_ms
    frontend = model.require("frontend_at", "transcribe's pitch track")(model.sample_rate, step_ms)
    with _quiet_stderr():
        samples = audio.load_audio(args.input, sr=model.sample_rate)
    midi, confidence = jax.jit(lambda params, a: model.pitch_track(params, frontend(a)))(model.params, samples)
    midi, confidence = np.asarray(midi, np.float64), np.asarray(confidence, np.float64)
    times = np.arange(len(midi)) * step_ms / 1000.0
    rows = np.stack([times, 440.0 * 2.0 ** ((midi - 69.0) / 12.0), confidence], axis=1)
    buf = io.StringIO()
    np.savetxt(buf, rows, delimiter=",", fmt="%.3f", header="time,frequency,confidence", comments="")
    atomic_write(args.output, buf.getvalue().encode())
    print(f"wrote {len(rows)} frames ({samples.shape[0] / model.sample_rate:.2f} s of audio, "
          f"{step_ms:g} ms steps) to {args.output}")
    return 0


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (C libraries' messages) for the duration of the block."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
