"""The ``maestro`` dataset: MAESTRO v3 read from the user's download, in the ``chorales`` schema.

tfds has no MAESTRO builder. Put ``maestro-v3.0.0.zip`` or the extracted ``maestro-v3.0.0/``
folder (the one holding ``maestro-v3.0.0.csv``) in the manual directory (``--manual-dir``).
Splits come from the CSV. Audio is mixed to mono and resampled to 22,050 Hz; labels follow
the MIDI with the sustain pedal extending offsets (as for Onsets and Frames). A piece is
skipped with a warning when its MIDI or audio cannot be read, its audio is sampled below
22,050 Hz, or its audio length disagrees with the CSV ``duration`` (a wrong sample rate in
the header, a truncated file): labels would be wrong.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from amt_jax.constants import SAMPLE_RATE
from amt_jax.data.builder import TranscriptionBuilder
from amt_jax.data.examples import SPLITS, BadPiece, make_example, read_midi

CSV_GLOB = "maestro-v*.csv"
ZIP_GLOB = "maestro-v*.zip"
PIANO = 0  # General MIDI program of every MAESTRO piece
DURATION_TOLERANCE_S = 1.0  # |audio length - CSV duration| allowed, plus 1 % of the duration


class _Folder:
    """Files of an extracted MAESTRO folder, by the relative names the CSV uses."""

    def __init__(self, csv_path: Path):
        self.csv_path = csv_path

    def csv_text(self) -> str:
        return self.csv_path.read_text(encoding="utf-8")

    def read(self, name: str) -> bytes:
        return (self.csv_path.parent / name).read_bytes()


class _Zip:
    """Files of a MAESTRO zip, whose members sit under the folder holding its CSV."""

    def __init__(self, path: Path):
        self.path = path
        with zipfile.ZipFile(path) as zf:
            csvs = [n for n in zf.namelist() if Path(n).match(CSV_GLOB)]
        if not csvs:
            raise FileNotFoundError(f"{path} holds no {CSV_GLOB}")
        self.csv_member = csvs[0]
        self.prefix = csvs[0][: -len(Path(csvs[0]).name)]

    def csv_text(self) -> str:
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(self.csv_member).decode("utf-8")

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(self.path) as zf:
            try:
                return zf.read(self.prefix + name)
            except KeyError:
                raise FileNotFoundError(f"{self.path} has no member {self.prefix + name}") from None


def open_download(manual_dir: str | os.PathLike):
    """The MAESTRO files in ``manual_dir``: an extracted folder (itself or one level down) or a zip."""
    root = Path(manual_dir)
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []:
        found = sorted(folder.glob(CSV_GLOB))
        if found:
            return _Folder(found[-1])
    zips = sorted(root.glob(ZIP_GLOB)) if root.is_dir() else ([root] if zipfile.is_zipfile(root) else [])
    if zips:
        return _Zip(zips[-1])
    raise FileNotFoundError(
        f"no MAESTRO download in {manual_dir}: expected {ZIP_GLOB} or a folder holding {CSV_GLOB}"
    )


def read_rows(download) -> list[dict]:
    """CSV rows (``split``, ``midi_filename``, ``audio_filename``, ``duration``, ...) in file order."""
    rows = list(csv.DictReader(io.StringIO(download.csv_text())))
    need = {"split", "midi_filename", "audio_filename", "duration"}
    if rows and not need <= set(rows[0]):
        raise ValueError(f"the MAESTRO CSV lacks columns {sorted(need - set(rows[0]))}")
    return rows


def take(rows: list[dict], n_pieces: int | None) -> dict[str, list[dict]]:
    """Rows per split; with ``n_pieces`` about that many in all, split in proportion, >= 1 per split."""
    by_split = {s: [r for r in rows if r["split"] == s] for s in SPLITS}
    if n_pieces is None:
        return by_split
    total = sum(len(v) for v in by_split.values()) or 1
    return {s: v[: max(1, math.floor(n_pieces * len(v) / total))] for s, v in by_split.items()}


def load_audio(data: bytes, *, name: str, duration_s: float) -> np.ndarray:
    """Decode ``data`` (wav/flac) → mono float32 at 22,050 Hz; ``BadPiece`` if it cannot be trusted."""
    import soundfile
    import soxr

    try:
        audio, sr = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ... on corrupt files
        raise BadPiece(f"unreadable audio {name} ({type(exc).__name__}: {exc})") from None
    if sr < SAMPLE_RATE:
        raise BadPiece(f"audio {name} is sampled at {sr} Hz, below {SAMPLE_RATE} Hz")
    length_s = audio.shape[0] / sr
    if abs(length_s - duration_s) > DURATION_TOLERANCE_S + 0.01 * duration_s:
        raise BadPiece(
            f"audio {name} lasts {length_s:.2f} s at its {sr} Hz but the CSV says {duration_s:.2f} s "
            "(sample-rate mismatch or truncated file)"
        )
    mono = audio.mean(axis=1)
    return mono if sr == SAMPLE_RATE else soxr.resample(mono, sr, SAMPLE_RATE).astype(np.float32)


class Maestro(TranscriptionBuilder):
    """MAESTRO v3 solo piano: audio, frame/onset rolls (sustain applied) and notes."""

    VERSION = tfds.core.Version("3.1.0")
    RELEASE_NOTES = {"3.0.0": "MAESTRO v3.0.0 in the amt_jax schema.",
                     "3.1.0": "Audio, frames and onsets stored as raw bytes (same values)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download maestro-v3.0.0.zip from https://magenta.tensorflow.org/datasets/maestro and put the "
        "zip, or the extracted maestro-v3.0.0/ folder, in the manual directory (--manual-dir)."
    )

    HOMEPAGE = "https://magenta.tensorflow.org/datasets/maestro"

    @classmethod
    def check_manual_dir(cls, manual_dir) -> None:
        """One line naming ``manual_dir`` when it holds no readable MAESTRO download (before tfds's
        own check, whose error is a long traceback)."""
        try:
            open_download(manual_dir)
        except zipfile.BadZipFile as exc:
            raise FileNotFoundError(f"--manual-dir {manual_dir}: a MAESTRO zip there is unreadable ({exc})") from None
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"--manual-dir: {exc}") from None

    def _split_generators(self, dl_manager):
        download = open_download(dl_manager.manual_dir)
        chosen = take(read_rows(download), self.n_pieces)
        for split, rows in chosen.items():
            if not rows:
                raise ValueError(f"maestro: the CSV has no {split!r} rows")
        return {s: self._generate_examples(download, rows, split=s) for s, rows in chosen.items()}

    def _generate_examples(self, download, rows, *, split: str):
        for i, row in enumerate(rows):
            piece_id = Path(row["midi_filename"]).stem
            try:
                notes = read_midi(_read(download, row["midi_filename"]), name=row["midi_filename"], sustain=True)
                audio = load_audio(
                    _read(download, row["audio_filename"]), name=row["audio_filename"], duration_s=_duration(row)
                )
                example = make_example(piece_id=piece_id, audio=audio, notes=notes, program=PIANO)
            except BadPiece as exc:
                self.skips.skip(piece_id, str(exc))
                continue
            self.counts[split] += 1
            self.progress(f"{split} {i + 1}/{len(rows)} {piece_id} ({audio.size / SAMPLE_RATE:.1f} s)")
            yield piece_id, example
        self._check_split_not_empty(split)


def _read(download, name: str) -> bytes:
    try:
        return download.read(name)
    except OSError as exc:
        raise BadPiece(f"cannot read {name} ({exc})") from None


def _duration(row: dict) -> float:
    try:
        return float(row["duration"])
    except ValueError:
        raise BadPiece(f"CSV duration {row['duration']!r} of {row['midi_filename']} is not a number") from None
