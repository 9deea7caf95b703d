"""Basic Pitch (Bittner et al., ICASSP 2022) as a configurable Flax linen module.

Input is the NormalizedLog CQT X [..., F, T] (``features.normalized_log(cqt2010(audio))``);
outputs are posteriorgrams in [0, 1]::

    X ─BN─ harmonic stack [T, F', H] ─┬─ conv 3×(13·B) ─BN─ReLU─ conv 5×5 ─σ─▶ contour [F' = 88·B]
                                      │        contour ─ conv 7×7 /B ─ReLU─ conv 7×3 ─σ─▶ note [88]
                                      └─ conv 5×5 /B ─BN─ReLU─ concat(note, ·) ─ conv 3×3 ─σ─▶ onset [88]

Convolutions run in NHWC with H = time, W = frequency (Keras' layout), 'SAME' padding (TF's
convention, which lax shares); "/B" is a stride of ``bins_per_semitone`` along frequency.
Convolutions with few channels are computed frequency-blocked (``FreqBlockedConv``): the same
kernel, rearranged so XLA's CPU convolution sees wider channel dimensions (≈3–4× faster). The
batch norms are real ``nn.BatchNorm`` layers (collection ``batch_stats``): call with
``train=True, mutable=["batch_stats"]`` to train. Pretrained weights (``amt_jax.pretrained``)
carry the folded BN affine in the convs and identity running statistics.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.frontend import features
from amt_jax import validate
from amt_jax.constants import BP_BINS_PER_SEMITONE, BP_HARMONICS, BP_N_SEMITONES, N_PITCHES, SEMITONES_PER_OCTAVE

CONV_LAYERS = ("contour_conv", "contour_out", "note_conv", "note_out", "onset_conv", "onset_out")


@dataclasses.dataclass(frozen=True)
class BasicPitchConfig:
    """Architecture hyperparameters; the defaults are the ICASSP 2022 model (16,782 trainable numbers).

    Attributes:
        bins_per_semitone: B, CQT bins per semitone; the note/onset heads stride by B.
        harmonics: harmonic stack channels (0.5 = sub-harmonic).
        n_pitches: P, output pitches (88 keys from A0).
        n_filters_contour: channels of the wide contour convolution.
        contour_span_semitones: frequency extent of that convolution, in semitones (kernel 3 × span·B).
        n_filters_notes: channels of the note head's hidden convolution.
        n_filters_onsets: channels of the onset head's hidden convolution.
        bn_epsilon: batch-norm epsilon (Keras default 1e-3).
        bn_momentum: running-average momentum (Keras default 0.99).
        conv_blocks: (layer name, frequency block) pairs for ``FreqBlockedConv``; a speed knob only
            (results equal up to float rounding), layers not listed use block 1 (a plain conv).
        n_input_semitones: semitones of the input CQT (103 for Basic Pitch's frontend, A0 up to
            just below Nyquist at 22,050 Hz); the input must have exactly ``n_input_bins`` =
            n_input_semitones·B frequency bins, >= P·B.
    """

    bins_per_semitone: int = BP_BINS_PER_SEMITONE
    harmonics: tuple[float, ...] = BP_HARMONICS
    n_pitches: int = N_PITCHES
    n_filters_contour: int = 8
    contour_span_semitones: int = 13
    n_filters_notes: int = 32
    n_filters_onsets: int = 32
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    conv_blocks: tuple[tuple[str, int], ...] = (("contour_conv", 4), ("contour_out", 8), ("note_conv", 2))
    n_input_semitones: int = BP_N_SEMITONES

    def __post_init__(self):
        object.__setattr__(self, "harmonics", tuple(self.harmonics))  # hashable even if given a list
        object.__setattr__(self, "conv_blocks", tuple((str(n), b) for n, b in self.conv_blocks))
        for name in ("bins_per_semitone", "n_pitches", "n_filters_contour", "contour_span_semitones",
                     "n_filters_notes", "n_filters_onsets", "n_input_semitones"):
            validate.positive_int(name, getattr(self, name))
        if self.n_input_semitones < self.n_pitches:
            raise ValueError(
                f"n_input_semitones must be >= n_pitches = {self.n_pitches} (the input covers every output pitch), "
                f"got {self.n_input_semitones!r}"
            )
        features.harmonic_shifts(self.harmonics, self.bins_per_octave)
        for name, block in self.conv_blocks:
            validate.one_of("conv_blocks layer name", name, CONV_LAYERS)
            validate.positive_int(f"conv_blocks[{name!r}]", block)
        validate.positive("bn_epsilon", self.bn_epsilon)
        if not 0 <= self.bn_momentum < 1:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")

    @property
    def bins_per_octave(self) -> int:
        return SEMITONES_PER_OCTAVE * self.bins_per_semitone

    @property
    def n_input_bins(self) -> int:
        """F = n_input_semitones·B, frequency bins of the input CQT (309 for the defaults)."""
        return self.n_input_semitones * self.bins_per_semitone

    @property
    def n_contour_bins(self) -> int:
        """F' = P·B, frequency bins of the contour output (and of the harmonic stack)."""
        return self.n_pitches * self.bins_per_semitone


def blocked_kernel(kernel: jax.Array, *, stride: int, block: int) -> jax.Array:
    """Rearrange an HWIO kernel [kt, kf, ci, co] for ``freq_blocked_conv``: [kt, q, stride·block·ci, block·co].

    Entry [dt, j, (u, c), (r, o)] = kernel[dt, j·stride·block + u − stride·r, c, o] where that tap
    exists, else 0: output r of a block of ``block`` frequency outputs reads input u of block j.
    """
    kt, kf, ci, co = kernel.shape
    s_in = stride * block
    q = -(-(stride * (block - 1) + kf) // s_in)
    tap = np.arange(q)[:, None, None] * s_in + np.arange(s_in)[None, :, None] - stride * np.arange(block)[None, None, :]
    valid = (tap >= 0) & (tap < kf)  # [q, u, r]
    w = jnp.where(valid[None, :, :, :, None, None], kernel[:, np.clip(tap, 0, kf - 1)], 0.0)  # [kt, q, u, r, ci, co]
    return jnp.transpose(w, (0, 1, 2, 4, 3, 5)).reshape(kt, q, s_in * ci, block * co)


def freq_blocked_conv(x: jax.Array, kernel: jax.Array, *, stride: int = 1, block: int = 1) -> jax.Array:
    """'SAME' conv, stride (1, ``stride``): x [N, T, F, ci], kernel [kt, kf, ci, co] -> [N, T, ceil(F/stride), co].

    Equal (up to float summation order) to ``lax.conv_general_dilated(x, kernel, (1, stride), "SAME")``
    in NHWC/HWIO, computed as a stride-1 convolution over blocks of ``stride·block`` input bins
    (space-to-depth along frequency), so that channels are ``block`` times wider.
    """
    n, t, f, c = x.shape
    kt, kf, _, co = kernel.shape
    f_out = -(-f // stride)
    left = max((f_out - 1) * stride + kf - f, 0) // 2
    n_blocks = -(-f_out // block)
    s_in = stride * block
    q = -(-(stride * (block - 1) + kf) // s_in)
    length = s_in * (n_blocks + q - 1)
    xb = jnp.pad(x, ((0, 0), (0, 0), (left, length - f - left), (0, 0))).reshape(n, t, n_blocks + q - 1, s_in * c)
    y = jax.lax.conv_general_dilated(
        xb,
        blocked_kernel(kernel, stride=stride, block=block),
        window_strides=(1, 1),
        padding=[((kt - 1) // 2, kt // 2), (0, 0)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return y.reshape(n, t, n_blocks * block, co)[:, :, :f_out]


class FreqBlockedConv(nn.Module):
    """``nn.Conv(features, kernel_size, strides=(1, stride), padding="SAME")`` (same parameters
    ``kernel`` [kt, kf, ci, co] and ``bias`` [co], same initialisers) on NHWC input, computed by
    ``freq_blocked_conv`` with frequency blocks of ``block`` outputs."""

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    block: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (*self.kernel_size, x.shape[-1], self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return freq_blocked_conv(x, kernel, stride=self.stride, block=self.block) + bias


class BasicPitch(nn.Module):
    """Basic Pitch posteriorgram model.

    ``__call__(x, train=False)``: x [..., F, T] NormalizedLog CQT with F = ``config.n_input_bins``
    bins (103·B by default) at B bins per semitone from the lowest pitch; returns {"note": [..., P, T], "onset": [..., P, T],
    "contour": [..., P·B, T]}.
    """

    config: BasicPitchConfig = BasicPitchConfig()

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> dict[str, jax.Array]:
        cfg = self.config
        validate.min_rank("x", x, 2, "[..., F, T]")
        if np.shape(x)[-2] != cfg.n_input_bins:  # a shorter axis would be zero-filled by the harmonic stack
            raise ValueError(
                f"x must have F = {cfg.n_input_bins} frequency bins (axis -2; {cfg.n_input_semitones} semitones × "
                f"{cfg.bins_per_semitone} bins), got shape {np.shape(x)}"
            )
        batch_shape, (n_bins, n_frames) = np.shape(x)[:-2], np.shape(x)[-2:]
        x = jnp.asarray(x, jnp.float32).reshape(-1, n_bins, n_frames)
        batch_norm = functools.partial(
            nn.BatchNorm, use_running_average=not train, momentum=cfg.bn_momentum, epsilon=cfg.bn_epsilon
        )
        x = batch_norm(name="input_bn")(x[..., None])[..., 0]  # [N, F, T]
        stack = features.harmonic_stack(
            x, harmonics=cfg.harmonics, bins_per_octave=cfg.bins_per_octave, n_output_bins=cfg.n_contour_bins
        )  # [N, H, F', T]
        stack = jnp.transpose(stack, (0, 3, 2, 1))  # NHWC [N, T, F', H]

        B = cfg.bins_per_semitone
        blocks = dict(cfg.conv_blocks)
        conv = lambda name, features, kernel, stride=1: FreqBlockedConv(  # noqa: E731
            features, kernel, stride=stride, block=blocks.get(name, 1), name=name
        )
        h = conv("contour_conv", cfg.n_filters_contour, (3, cfg.contour_span_semitones * B))(stack)
        h = nn.relu(batch_norm(name="contour_bn")(h))
        contour = nn.sigmoid(conv("contour_out", 1, (5, 5))(h))  # [N, T, F', 1]

        h = nn.relu(conv("note_conv", cfg.n_filters_notes, (7, 7), B)(contour))
        note = nn.sigmoid(conv("note_out", 1, (7, 3))(h))  # [N, T, P, 1]

        h = conv("onset_conv", cfg.n_filters_onsets, (5, 5), B)(stack)
        h = nn.relu(batch_norm(name="onset_bn")(h))
        onset = nn.sigmoid(conv("onset_out", 1, (3, 3))(jnp.concatenate([note, h], axis=-1)))  # [N, T, P, 1]

        def to_pt(y):  # [N, T, bins, 1] -> [..., bins, T]
            return jnp.swapaxes(y[..., 0], -1, -2).reshape(*batch_shape, y.shape[2], n_frames)

        return {"note": to_pt(note), "onset": to_pt(onset), "contour": to_pt(contour)}
