"""The recordings of the ``real`` dataset: which package archive holds each, where, and what it is.

Every file comes from a PyPI source archive (sdist) fetched at build time, never from this
repository. Licences are given as the package states them: libsoni 1.1.0's README says its MIT
licence "does not apply to the data files" and names where each came from, without a licence;
basic-pitch 0.4.0's NOTICE says its test audio is from vocadito, "Creative Commons Attribution
4.0 International".

Annotation kinds: ``f0`` (one pitch track per voice, ``annotations`` in voice order), ``notes``
(one note list), ``single_note`` (one recorded note whose pitch the file name gives; its timing
is read off the audio, see :func:`amt_jax.data.real.annotations.single_note`). Programs are
General MIDI numbers; ``-1`` marks a mixed ensemble (its ``instruments`` name every voice).
"""

from __future__ import annotations

import dataclasses

LIBSONI = ("libsoni", "1.1.0")
BASIC_PITCH = ("basic-pitch", "0.4.0")
PACKAGES = (LIBSONI, BASIC_PITCH)
LIBSONI_LICENCE = ("not stated: libsoni 1.1.0 README, 'The code for this toolbox is published under an MIT license. "
                   "This does not apply to the data files'; it names the source dataset")
VOCADITO_LICENCE = "CC BY 4.0 (basic-pitch 0.4.0 NOTICE: vocadito, Creative Commons Attribution 4.0 International)"
MIXED = -1  # program of a mixed ensemble


@dataclasses.dataclass(frozen=True)
class Recording:
    """One recording: ``package`` (name, version) holds ``audio`` and ``annotations`` (member paths
    below the archive's top folder); ``instruments`` names each voice; ``program`` (GM, -1 mixed)."""

    piece_id: str
    package: tuple[str, str]
    audio: str
    kind: str  # "f0", "notes" or "single_note"
    annotations: tuple[str, ...]
    instruments: tuple[str, ...]
    program: int
    dataset: str
    licence: str
    pitch: int | None = None  # single_note: MIDI pitch from the file name
    note: str = ""

    def card(self) -> dict:
        """This recording's entry in the dataset card (JSON-ready)."""
        return {
            "package": "==".join(self.package), "audio": self.audio, "annotation_kind": self.kind,
            "annotations": list(self.annotations), "instruments": list(self.instruments), "program": self.program,
            "dataset": self.dataset, "licence": self.licence, **({"note": self.note} if self.note else {}),
        }


F0 = "data_csv/demo_f0/"
RECORDINGS = (
    Recording(
        "bach10_ach_gott_und_herr", LIBSONI, "data_audio/demo_f0/01-AchGottundHerr.wav", "f0",
        tuple(f"{F0}01-AchGottundHerr_{i}.csv" for i in ("violin", "clarinet", "saxophone", "bassoon")),
        ("violin", "clarinet", "saxophone", "bassoon"), MIXED,
        "Bach10 (Duan, Pardo & Zhang 2010): J. S. Bach, 'Ach Gott und Herr', quartet recording", LIBSONI_LICENCE,
    ),
    Recording(
        "dcs_locus_iste_a_take04", LIBSONI, "data_audio/demo_f0/DCS_LI_QuartetA_Take04_StereoReverb_STM.wav", "f0",
        tuple(f"{F0}DCS_LI_QuartetA_Take04_{v}_LRX.csv" for v in ("S2", "A1", "T1", "B1")),
        ("soprano", "alto", "tenor", "bass"), 52,
        "Dagstuhl ChoirSet (Rosenzweig et al. 2020): Bruckner, 'Locus iste', quartet A take 4, SATB", LIBSONI_LICENCE,
        note="pitch tracks from larynx microphones (LRX); GM 52 = Choir Aahs",
    ),
    Recording(
        "fmp_weber_freischuetz", LIBSONI, "data_audio/demo_f0/FMP_B_Sonify_F0_Weber_Freischuetz.wav", "f0",
        (f"{F0}FMP_B_Sonify_F0_Weber_Freischuetz.csv",), ("soprano",), 53,
        "FMP notebooks (Mueller): Weber, 'Der Freischuetz', aria excerpt", LIBSONI_LICENCE,
        note="the pitch track is the singer's only; any accompaniment is unlabelled; GM 53 = Voice Oohs",
    ),
    Recording(
        "swd_d911-11_sc06", LIBSONI, "data_audio/demo_pianoroll/FMP_B_Sonify_Pitch_Schubert_D911-11_SC06.wav",
        "notes", ("data_csv/demo_pianoroll/FMP_B_Sonify_Pitch_Schubert_D911-11_SC06.csv",), ("piano",), 0,
        "Schubert Winterreise Dataset: D 911-11 'Fruehlingstraum', performance SC06, excerpt", LIBSONI_LICENCE,
        note="the note list is labelled 'piano'; a sung part, if audible, is unlabelled",
    ),
    Recording(
        "sndb_piano_c4", LIBSONI, "data_audio/samples/01Pia1F060f_np___0.wav", "single_note", (), ("piano",), 0,
        "Single Note Database (SNDB): piano, MIDI 60, forte", LIBSONI_LICENCE, pitch=60,
        note="pitch 60 from the file name (F060) and libsoni's reference_pitch=60; timing from the audio envelope",
    ),
)

# basic-pitch's own test audio and the outputs it saved for it: no ground-truth annotation, so no
# example of the dataset; used for the parity check of amt_jax's Basic Pitch (tests/test_real.py).
VOCADITO = {
    "vocadito_10": {"audio": "tests/resources/vocadito_10.wav", "model_output": "tests/resources/vocadito_10/model_output.npz",
                    "note_events": "tests/resources/vocadito_10/note_events.npz"},
    "vocadito_14": {"audio": "tests/resources/vocadito_14.wav"},
}
