"""FrequencyLayout: where each key sits, checked against the frontends themselves (a tone's peak
bin), against the microtonal family's groups, and on planted layouts where the answer is known."""

import numpy as np
import pytest

from amt_jax import FrequencyLayout
from amt_jax.constants import MIDI_OFFSET, SAMPLE_RATE
from amt_jax import permutations

BASIC_PITCH = FrequencyLayout(n_bins=309, bins_per_semitone=3, center_offset=0, n_pitches=88)


def test_basic_pitch_positions():
    lay = BASIC_PITCH
    assert lay.bins_per_octave == 36 and lay.pitch_bin(0) == 0 and lay.pitch_bin(87) == 261
    assert lay.semitone_bins(0) == (0, 2)  # bins -1..1 clipped to the axis
    assert lay.semitone_bins(5) == (14, 17)
    assert lay.key_bins == (0, 263)
    assert lay.semitone_range(200, 300) == (309, 309)  # off the axis: empty
    assert lay.n_semitones == 104  # 88 keys, 15 semitones of headroom above C8 and bin 308 (a clipped semitone)
    assert lay.harmonic_offsets(4) == (0, 36, 57, 72)
    assert lay.harmonic_bins(80, 4) == (240, 276, 297)  # the 4th harmonic (312) is off the axis
    assert lay.midi(87) == 108 and lay.is_key(87) and not lay.is_key(88)


def test_bin_pitch_inverts_semitones_and_marks_bins_outside_the_keys():
    for lay in (BASIC_PITCH, FrequencyLayout(n_bins=103 * 5, bins_per_semitone=5, center_offset=2, n_pitches=88),
                FrequencyLayout(n_bins=48, bins_per_semitone=1, center_offset=0, n_pitches=48)):
        f = np.arange(-3, lay.n_bins + 3)
        p = lay.bin_pitch(f)
        for key in range(lay.n_pitches):
            lo, hi = lay.semitone_bins(key)
            assert np.all(p[(f >= lo) & (f < hi)] == key)
        assert np.all(p[(f < 0) | (f >= lay.n_bins)] == -1)
        assert np.all(p[f >= lay.key_bins[1]] == -1)  # headroom above the top key: no key
        assert lay.bin_pitch(lay.pitch_bin(7)) == 7


@pytest.mark.parametrize("b,c,n", [(1, 0, 20), (2, 1, 21), (3, 0, 31), (3, 1, 30), (5, 2, 52), (5, 0, 40)])
def test_semitone_members_are_the_microtonal_groups_and_ranges_agree(b, c, n):
    lay = FrequencyLayout.for_axis(n_bins=n, bins_per_semitone=b, center_offset=c)
    members, valid = lay.semitone_members()
    bounds = [(int(m[v].min()), int(m[v].max()) + 1) for m, v in zip(members, valid)]
    for p, group in enumerate(bounds):
        assert lay.semitone_bins(p) == group
    for lo, hi in ((0, 3), (1, len(bounds)), (2, 5)):
        assert lay.semitone_range(lo, hi) == (bounds[lo][0], bounds[hi - 1][1])
    family = permutations.microtonal(layout=lay, scope="one")
    assert family.n_groups == len(bounds)


def test_trained_frontend_puts_each_tone_on_its_layout_bin():
    """The variants' CQT (librosa-compatible, fmin lowered by the layout's centre offset): a pure
    tone's peak bin is its key's centre bin, for B = 1, 3, 5."""
    from amt_jax import train

    midis = np.array([45, 69, 90])
    t = np.arange(8192) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * 440.0 * 2 ** ((midis[:, None] - 69) / 12) * t).astype(np.float32)
    for b in (1, 3, 5):
        lay = train.layout(b)
        x = np.asarray(train.frontend(tones, bins_per_semitone=b))[..., 16]
        np.testing.assert_array_equal(np.argmax(x, axis=-1), lay.pitch_bin(midis - MIDI_OFFSET))
        assert np.all(lay.bin_pitch(np.argmax(x, axis=-1)) == midis - MIDI_OFFSET)


def test_basic_pitch_frontend_puts_each_tone_on_its_layout_bin():
    from amt_jax import pretrained

    bp = pretrained.basic_pitch()
    midis = np.array([40, 64, 88])
    t = np.arange(43844) / SAMPLE_RATE
    tones = (0.3 * np.sin(2 * np.pi * 440.0 * 2 ** ((midis[:, None] - 69) / 12) * t)).astype(np.float32)
    x = np.asarray(bp.frontend(tones))[..., 86]
    np.testing.assert_array_equal(np.argmax(x, axis=-1), bp.layout.pitch_bin(midis - MIDI_OFFSET))


def test_round_trip_and_validation():
    lay = FrequencyLayout(n_bins=30, bins_per_semitone=3, center_offset=1, n_pitches=9, lowest_midi=30)
    assert FrequencyLayout.from_dict({**lay.to_dict(), "extra": 1}) == lay
    assert hash(lay) == hash(FrequencyLayout(**lay.to_dict()))
    for kwargs, arg in ((dict(n_bins=0), "n_bins"), (dict(bins_per_semitone=0), "bins_per_semitone"),
                        (dict(center_offset=-5), "center_offset"), (dict(center_offset=1.5), "center_offset"),
                        (dict(n_pitches=0), "n_pitches")):
        with pytest.raises(ValueError, match=arg):
            FrequencyLayout(**{**dict(n_bins=30, bins_per_semitone=3, center_offset=0, n_pitches=9), **kwargs})
