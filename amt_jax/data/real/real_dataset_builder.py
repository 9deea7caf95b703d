"""The ``real`` dataset: a handful of real recordings (not renders) with their annotations, read
from the libsoni 1.1.0 source archive on PyPI (see :mod:`amt_jax.data.real.sources` for each file,
its original dataset and its licence as the package states it).

- Bach10 'Ach Gott und Herr' (violin, clarinet, saxophone, bassoon; a pitch track per instrument),
- Dagstuhl ChoirSet 'Locus iste', quartet A take 4 (soprano, alto, tenor, bass; a pitch track per singer),
- Weber 'Der Freischuetz' aria excerpt (the singer's pitch track),
- Schubert Winterreise D 911-11 'Fruehlingstraum' excerpt (a note list),
- one recorded piano note (SNDB, MIDI 60; its timing read off the audio).

There are too few recordings to split: every piece is in the ``test`` split (the only split; the
piece is the cluster unit). Pitch tracks give the frame labels on the model's frame grid (each
voiced frame on its nearest key, see :mod:`amt_jax.data.real.annotations`) and the ``f0`` entry
(per voice, Hz); those pieces have no notes and no onsets. Note lists give notes, frames and
onsets as for the other datasets. Audio is mixed to mono and resampled to 22,050 Hz.

The archive is fetched with pip into ``<data_dir>/downloads/sdists`` (or taken from the manual
directory, ``--manual-dir``, when it holds ``libsoni-1.1.0.tar.gz``); only the needed members are
read. A recording whose files are missing or unreadable is skipped with one line naming it.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow_datasets as tfds

from amt_jax.constants import SAMPLE_RATE
from amt_jax.data.builder import TranscriptionBuilder
from amt_jax.data.examples import BadPiece, make_example
from amt_jax.data.labels import frame_count, make_notes
from amt_jax.data.real import annotations, archives, sources

SPLIT = "test"


def load_audio(data: bytes, *, name: str) -> np.ndarray:
    """Decode wav/flac bytes → mono float32 [n_samples] at 22,050 Hz; ``BadPiece`` if unreadable."""
    import soundfile
    import soxr

    try:
        audio, sr = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ... on corrupt files
        raise BadPiece(f"unreadable audio {name} ({type(exc).__name__}: {exc})") from None
    mono = audio.mean(axis=1)
    return mono if sr == SAMPLE_RATE else soxr.resample(mono, sr, SAMPLE_RATE).astype(np.float32)


def example_of(recording: sources.Recording, archive: archives.Archive) -> dict:
    """The example of ``recording`` (files read from ``archive``); ``BadPiece`` naming what is wrong."""
    try:
        audio = load_audio(archive.read(recording.audio), name=recording.audio)
        notes, f0, frames = make_notes([], [], [], []), None, None
        if recording.kind == "f0":
            n_frames = frame_count(audio.size)
            tracks = [annotations.read_f0_csv(archive.read(path), name=path) for path in recording.annotations]
            f0 = np.stack([annotations.f0_on_frames(t, hz, n_frames) for t, hz in tracks], axis=1)
            frames, _ = annotations.frames_from_f0(f0)
        elif recording.kind == "notes":
            notes = annotations.read_note_csv(archive.read(recording.annotations[0]), name=recording.annotations[0])
        elif recording.kind == "single_note":
            notes = annotations.single_note(audio, pitch=recording.pitch, name=recording.audio)
        else:
            raise BadPiece(f"unknown annotation kind {recording.kind!r}")
    except FileNotFoundError as exc:
        raise BadPiece(str(exc)) from None
    return make_example(
        piece_id=recording.piece_id, audio=audio, notes=notes, program=recording.program,
        frames=frames, f0=f0, instruments=recording.instruments,
    )


class Real(TranscriptionBuilder):
    """Real recordings with pitch-track or note-list labels; a ``test`` split only."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Five libsoni 1.1.0 recordings.",
                     "1.1.0": "Audio, frames and onsets stored as raw bytes (same values)."}
    HOMEPAGE = "https://pypi.org/project/libsoni/1.1.0/"
    BUILT_SPLITS = (SPLIT,)
    RECORDED = True

    def __init__(self, *, archive_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None, **kwargs):
        """``archive_dir``: a folder that may hold the sdists (else pip fetches them); ``cache_dir``:
        where pip's downloads are kept (default ``<data_dir>/downloads/sdists``)."""
        super().__init__(**kwargs)
        root = kwargs.get("data_dir") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
        self.archive_dir = archive_dir
        self.cache_dir = cache_dir or os.path.join(os.fspath(root), "downloads", "sdists")

    @classmethod
    def check_manual_dir(cls, manual_dir) -> None:
        if not os.path.isdir(manual_dir):
            raise FileNotFoundError(f"--manual-dir {manual_dir} is not a folder (it may hold the sdists, e.g. "
                                    f"{archives.sdist_filename(*sources.LIBSONI)})")

    def _log_download_bytes(self) -> None:  # tfds prints "Downloading and preparing ..." here: nothing to say
        pass

    def _log_download_done(self) -> None:
        pass

    def _split_generators(self, dl_manager):
        del dl_manager  # the archives come through pip (archives.fetch_sdist)
        recordings = sources.RECORDINGS[: self.n_pieces]
        self.info.metadata.update(
            recordings={r.piece_id: r.card() for r in recordings}, sample_rate=SAMPLE_RATE, splits="test only",
        )
        return {SPLIT: self._generate_examples(recordings)}

    def _generate_examples(self, recordings):
        opened: dict[tuple[str, str], archives.Archive | Exception] = {}
        for i, recording in enumerate(recordings):
            if recording.package not in opened:
                try:
                    path = archives.fetch_sdist(*recording.package, cache_dir=self.cache_dir, manual_dir=self.archive_dir)
                    opened[recording.package] = archives.Archive(path)
                except archives.ArchiveUnavailable as exc:
                    opened[recording.package] = exc
            archive = opened[recording.package]
            try:
                if isinstance(archive, Exception):
                    raise BadPiece(str(archive))
                example = example_of(recording, archive)
            except BadPiece as exc:
                self.skips.skip(recording.piece_id, str(exc))
                continue
            self.counts[SPLIT] += 1
            seconds = example["audio"].size / SAMPLE_RATE
            labels = f"{len(recording.annotations)} pitch track(s)" if recording.kind == "f0" else f"{len(example['notes']['pitch'])} note(s)"
            self.progress(f"{SPLIT} {i + 1}/{len(recordings)} {recording.piece_id} ({', '.join(recording.instruments)}; {seconds:.1f} s; {labels})")
            yield recording.piece_id, example
        self._check_split_not_empty(SPLIT)
