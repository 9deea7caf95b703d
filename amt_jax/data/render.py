"""Offline rendering of a note list with a General MIDI SoundFont, bounded in wall-clock time.

Two renderers:

- ``"tinysoundfont"`` (default, pip only): drives the synthesiser note by note, so every note
  starts at sample ``round(onset_s * sample_rate)`` exactly. The default SoundFont is
  ``TimGM6mb.sf2`` shipped inside ``pretty_midi``.
- ``"fluidsynth"`` (optional): the FluidSynth command-line program with Debian's
  ``fluid-soundfont-gm`` (or any SoundFont given), run on a MIDI file re-saved through
  ``pretty_midi`` with reverb and chorus off, under a timeout (a music21 export once made it
  render forever).

Both give mono float32 audio that lasts the last offset plus ``tail_s`` (FluidSynth adds its
own release tail), scaled down only if it would clip.

Mistuned renders (``tuning=``, tinysoundfont only): each voice plays on its own MIDI channel with
the pitch-bend range set to ``tuning.BEND_RANGE_SEMITONES`` and the wheel set to the voice's
offset before its first note; with vibrato the wheel of every channel is updated every
``bend_block`` samples (a block boundary every ``bend_block`` samples from the start, each block
bent to the deviation at its centre). Without ``tuning`` the render is the in-tune one above,
unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from amt_jax.constants import SAMPLE_RATE
from amt_jax.data.labels import Notes
from amt_jax.data.tuning import BEND_BLOCK, BEND_RANGE_SEMITONES, Tuning, bend_value

RENDERERS = ("tinysoundfont", "fluidsynth")
FLUIDSYNTH_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian fluid-soundfont-gm
TAIL_S = 0.5  # seconds of release kept after the last offset
TIMEOUT_S = 60.0  # wall-clock bound on one render
_PEAK = 0.99  # audio louder than this is scaled down to it


class RenderError(RuntimeError):
    """A render failed, timed out or returned unusable audio."""


def default_soundfont(renderer: str = "tinysoundfont") -> Path:
    """The SoundFont a renderer uses when none is given (FluidR3_GM if installed, else TimGM6mb)."""
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {list(RENDERERS)}, got {renderer!r}")
    if renderer == "fluidsynth" and FLUIDSYNTH_SOUNDFONT.is_file():
        return FLUIDSYNTH_SOUNDFONT
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def fluidsynth_program() -> str:
    """Path of the ``fluidsynth`` program; ``FileNotFoundError`` when it is not installed."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise FileNotFoundError("renderer 'fluidsynth' needs the fluidsynth program on PATH (apt install fluidsynth)")
    return exe


def render(
    notes: Notes,
    *,
    program: int,
    renderer: str = "tinysoundfont",
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = SAMPLE_RATE,
    tail_s: float = TAIL_S,
    timeout_s: float = TIMEOUT_S,
    voice: np.ndarray | None = None,
    tuning: Tuning | None = None,
    bend_block: int = BEND_BLOCK,
) -> np.ndarray:
    """Render ``notes`` with General MIDI ``program`` (0..127) → mono float32 audio [n_samples].

    ``tuning``: render mistuned (see the module doc), voice ``voice[i]`` (``int [n_notes]``, default
    all 0) playing note ``i``; ``bend_block``: samples between vibrato bend updates.

    Raises ``RenderError`` when the renderer fails, exceeds ``timeout_s`` seconds of wall-clock
    time or returns audio at another sample rate; ``ValueError`` for bad arguments.
    """
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {list(RENDERERS)}, got {renderer!r}")
    if isinstance(program, bool) or not isinstance(program, (int, np.integer)) or not 0 <= program <= 127:
        raise ValueError(f"program must be a General MIDI program number in 0..127, got {program!r}")
    for name, value in (("sample_rate", sample_rate), ("timeout_s", timeout_s)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if not tail_s >= 0:
        raise ValueError(f"tail_s must be >= 0 seconds, got {tail_s!r}")
    soundfont = Path(soundfont) if soundfont is not None else default_soundfont(renderer)
    if not soundfont.is_file():
        raise FileNotFoundError(f"soundfont {soundfont} does not exist")
    if tuning is not None:
        if renderer != "tinysoundfont":
            raise ValueError(f"mistuned renders need renderer 'tinysoundfont', got {renderer!r}")
        if not isinstance(tuning, Tuning):
            raise ValueError(f"tuning must be an amt_jax.data.tuning.Tuning, got {type(tuning).__name__}")
        voice = np.zeros(len(notes), dtype=np.int64) if voice is None else np.asarray(voice).reshape(-1)
        if voice.shape[0] != len(notes):
            raise ValueError(f"voice has {voice.shape[0]} entries for {len(notes)} notes")
        if len(notes) and (np.any(voice != np.round(voice)) or voice.min() < 0 or voice.max() >= tuning.n_voices):
            raise ValueError(f"voice must hold integers in 0..{tuning.n_voices - 1} (the tuning's voices)")
        if isinstance(bend_block, bool) or not isinstance(bend_block, (int, np.integer)) or bend_block < 1:
            raise ValueError(f"bend_block must be a positive integer of samples, got {bend_block!r}")
        audio = _render_tinysoundfont_tuned(
            notes, voice.astype(np.int64), tuning, program, soundfont, sample_rate, tail_s, timeout_s, int(bend_block)
        )
    elif voice is not None:
        raise ValueError("voice is only used with tuning")
    elif renderer == "tinysoundfont":
        audio = _render_tinysoundfont(notes, program, soundfont, sample_rate, tail_s, timeout_s)
    else:
        audio = _render_fluidsynth(notes, program, soundfont, sample_rate, timeout_s)
    if audio.size == 0 or not np.all(np.isfinite(audio)):
        raise RenderError("the renderer returned empty or non-finite audio")
    peak = float(np.max(np.abs(audio)))
    return (audio / max(1.0, peak / _PEAK)).astype(np.float32)


def _render_tinysoundfont(notes, program, soundfont, sample_rate, tail_s, timeout_s) -> np.ndarray:
    import tinysoundfont

    deadline = time.monotonic() + timeout_s
    synth = tinysoundfont.Synth(samplerate=int(sample_rate))
    sfid = synth.sfload(str(soundfont))
    synth.program_select(0, sfid, 0, int(program))
    on = np.round(notes.onset_s * sample_rate).astype(np.int64)
    off = np.round(notes.offset_s * sample_rate).astype(np.int64)
    # (sample, 0 = note off before 1 = note on at the same sample, pitch, velocity)
    events = sorted(
        [(int(t), 0, int(p), 0) for t, p in zip(off, notes.pitch)]
        + [(int(t), 1, int(p), int(v)) for t, p, v in zip(on, notes.pitch, notes.velocity)]
    )
    n_samples = (int(off.max()) if len(notes) else 0) + int(round(tail_s * sample_rate))
    out = np.zeros(n_samples, dtype=np.float32)
    pos = 0
    for t, kind, pitch, velocity in events + [(n_samples, 0, -1, 0)]:
        while pos < t:
            if time.monotonic() > deadline:
                raise RenderError(f"tinysoundfont took longer than {timeout_s} s")
            n = min(t - pos, 1 << 16)
            stereo = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(n, 2)
            out[pos : pos + n] = stereo.mean(axis=1)
            pos += n
        if pitch < 0:
            break
        if kind:
            synth.noteon(0, pitch, velocity)
        else:
            synth.noteoff(0, pitch)
    return out


def _render_tinysoundfont_tuned(notes, voice, tuning, program, soundfont, sample_rate, tail_s, timeout_s, block) -> np.ndarray:
    """Note by note as :func:`_render_tinysoundfont`, voice ``v`` on channel ``v`` bent by its tuning."""
    import tinysoundfont

    deadline = time.monotonic() + timeout_s
    synth = tinysoundfont.Synth(samplerate=int(sample_rate))
    sfid = synth.sfload(str(soundfont))
    for ch in range(tuning.n_voices):
        synth.program_select(ch, sfid, 0, int(program))
        synth.pitchbend_range(ch, BEND_RANGE_SEMITONES)
        synth.pitchbend(ch, int(bend_value(tuning.cents[ch])))
    vibrato = tuning.has_vibrato
    on = np.round(notes.onset_s * sample_rate).astype(np.int64)
    off = np.round(notes.offset_s * sample_rate).astype(np.int64)
    # (sample, 0 = note off before 1 = note on at the same sample, pitch, velocity, channel)
    events = sorted(
        [(int(t), 0, int(p), 0, int(c)) for t, p, c in zip(off, notes.pitch, voice)]
        + [(int(t), 1, int(p), int(v), int(c)) for t, p, v, c in zip(on, notes.pitch, notes.velocity, voice)]
    )
    n_samples = (int(off.max()) if len(notes) else 0) + int(round(tail_s * sample_rate))
    out = np.zeros(n_samples, dtype=np.float32)
    pos = 0
    for t, kind, pitch, velocity, channel in events + [(n_samples, 0, -1, 0, 0)]:
        while pos < t:
            if time.monotonic() > deadline:
                raise RenderError(f"tinysoundfont took longer than {timeout_s} s")
            if vibrato:
                start = pos - pos % block
                if pos == start:  # a block boundary: bend every channel to the deviation at the block's centre
                    wheel = bend_value(tuning.deviation_cents((start + block / 2) / sample_rate))
                    for ch in range(tuning.n_voices):
                        synth.pitchbend(ch, int(wheel[ch]))
                n = min(t, start + block) - pos
            else:
                n = min(t - pos, 1 << 16)
            stereo = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(n, 2)
            out[pos : pos + n] = stereo.mean(axis=1)
            pos += n
        if pitch < 0:
            break
        if kind:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    return out


def _render_fluidsynth(notes, program, soundfont, sample_rate, timeout_s) -> np.ndarray:
    import pretty_midi
    import soundfile

    exe = fluidsynth_program()
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=int(program))
    inst.notes = [
        pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(b))
        for a, b, p, v in zip(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity)
    ]
    midi.instruments.append(inst)
    with tempfile.TemporaryDirectory(prefix="amt_jax_render_") as tmp:
        mid, wav = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.wav")
        midi.write(mid)
        cmd = [exe, "-ni", "-q", "-R", "0", "-C", "0", "-F", wav, "-r", str(int(sample_rate)), str(soundfont), mid]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RenderError(f"fluidsynth took longer than {timeout_s} s") from None
        if proc.returncode != 0 or not os.path.isfile(wav):
            raise RenderError(f"fluidsynth failed (exit {proc.returncode}): {proc.stderr.strip()[-200:]}")
        audio, sr = soundfile.read(wav, dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise RenderError(f"sample-rate mismatch: fluidsynth wrote {sr} Hz, asked for {sample_rate} Hz")
    return audio.mean(axis=1)
