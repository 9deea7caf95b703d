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
wide contour convolution reads X directly (``HarmonicStackConv``): its kernels over the H
shifted copies of X add up into one kernel over X (37 % fewer multiply-adds for Basic Pitch).
Inference on CPU (``train=False``) runs a batch through the network a few examples at a time (an
``nn.scan`` over chunks of ``eval_chunk(N)`` examples: the largest divisor of N up to
``EVAL_CHUNK``), so that every intermediate stays in cache; results do not depend on it beyond
float rounding. Capturing intermediates bypasses the loop; an ``nn.intercept_methods`` interceptor
sees the chunks, so intercept ``BasicPitch.network`` (``method=BasicPitch.network``) instead. The
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
from jax.custom_derivatives import SymbolicZero

from amt_jax.frontend import features
from amt_jax import validate
from amt_jax.constants import BP_BINS_PER_SEMITONE, BP_HARMONICS, BP_N_SEMITONES, N_PITCHES, SEMITONES_PER_OCTAVE

CONV_LAYERS = ("contour_conv", "contour_out", "note_conv", "note_out", "onset_conv", "onset_out")
EVAL_CHUNK = 2  # inference runs a batch through the network at most this many examples at a time (speed only)


def eval_chunk(n: int) -> int:
    """Examples per step of the inference loop for a batch of ``n``: the largest divisor of n up to EVAL_CHUNK."""
    return max(d for d in range(1, EVAL_CHUNK + 1) if n % d == 0) if n else EVAL_CHUNK


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
        conv_blocks: (layer name, frequency block) pairs for ``FreqBlockedConv`` (for contour_conv,
            ``HarmonicStackConv``'s); a speed knob only (results equal up to float rounding), layers
            not listed use block 1 (a plain conv).
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
    conv_blocks: tuple[tuple[str, int], ...] = (("contour_conv", 4), ("contour_out", 4), ("note_conv", 2))
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

    @classmethod
    def from_dict(cls, d: dict) -> BasicPitchConfig:
        """The config of a JSON dict (``dataclasses.asdict`` after a JSON round trip: lists back to tuples)."""
        def tuples(v):
            return tuple(map(tuples, v)) if isinstance(v, list) else v

        return cls(**{k: tuples(v) for k, v in d.items()})

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


def _valid_blocked_conv(x: jax.Array, kernel: jax.Array, *, stride: int, block: int, n_out: int) -> jax.Array:
    """Frequency outputs j = 0 … n_out−1 reading bins j·stride … j·stride + kf − 1 of x (zeros past its
    end), 'SAME' along time: x [N, T, F, ci], kernel [kt, kf, ci, co] -> [N, T, n_out, co].

    Computed as a stride-1 convolution over blocks of ``stride·block`` input bins (space-to-depth
    along frequency) with the ``blocked_kernel``, so that channels are ``block`` times wider.
    """
    n, t, f, c = x.shape
    kt, kf, _, co = kernel.shape
    n_blocks = -(-n_out // block)
    s_in = stride * block
    q = -(-(stride * (block - 1) + kf) // s_in)
    length = s_in * (n_blocks + q - 1)
    x = x[:, :, :length] if f >= length else jnp.pad(x, ((0, 0), (0, 0), (0, length - f), (0, 0)))
    y = jax.lax.conv_general_dilated(
        x.reshape(n, t, n_blocks + q - 1, s_in * c),
        blocked_kernel(kernel, stride=stride, block=block),
        window_strides=(1, 1),
        padding=[((kt - 1) // 2, kt // 2), (0, 0)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return y.reshape(n, t, n_blocks * block, co)[:, :, :n_out]


def freq_blocked_conv(x: jax.Array, kernel: jax.Array, *, stride: int = 1, block: int = 1) -> jax.Array:
    """'SAME' conv, stride (1, ``stride``): x [N, T, F, ci], kernel [kt, kf, ci, co] -> [N, T, ceil(F/stride), co].

    Equal (up to float summation order) to ``lax.conv_general_dilated(x, kernel, (1, stride), "SAME")``
    in NHWC/HWIO, computed as a stride-1 convolution over blocks of ``stride·block`` input bins
    (space-to-depth along frequency), so that channels are ``block`` times wider. A filter from one
    channel to one (ci = co = 1) is instead the sum of its kt·kf weighted shifted copies of x,
    which XLA fuses into one loop (a convolution library is at its slowest on one channel).
    """
    n, t, f, ci = x.shape
    kt, kf, _, co = kernel.shape
    f_out = -(-f // stride)
    left = max((f_out - 1) * stride + kf - f, 0) // 2
    if ci == co == 1:
        right = max(stride * (f_out - 1) + kf - f - left, 0)
        padded = jnp.pad(x[..., 0], ((0, 0), ((kt - 1) // 2, kt // 2), (left, right)))
        taps = [
            padded[:, dt : dt + t, df : df + stride * (f_out - 1) + 1 : stride] * kernel[dt, df, 0, 0]
            for dt in range(kt)
            for df in range(kf)
        ]
        return sum(taps[1:], taps[0])[..., None]
    x = jnp.pad(x, ((0, 0), (0, 0), (left, 0), (0, 0)))
    return _valid_blocked_conv(x, kernel, stride=stride, block=block, n_out=f_out)


def _bins(x: jax.Array, start: int, count: int) -> jax.Array:
    """x[..., start : start + count] along the last axis, zeros outside x."""
    below, above = max(0, -start), max(0, start + count - x.shape[-1])
    pad = [(0, 0)] * (x.ndim - 1) + [(below, above)]
    return jax.lax.slice_in_dim(jnp.pad(x, pad), start + below, start + below + count, axis=-1)


def _stack(x: jax.Array, shifts: tuple[int, ...], start: int, count: int) -> jax.Array:
    """Bins start … start + count − 1 of the harmonic stack of x [N, T, F]: [N, T, count, H]."""
    return jnp.stack([_bins(x, start + s, count) for s in shifts], axis=-1)


def harmonic_stack_conv(
    x: jax.Array, kernel: jax.Array, *, shifts: tuple[int, ...], n_bins: int, block: int = 1
) -> jax.Array:
    """'SAME' stride-1 conv of the harmonic stack of x, mostly without building the stack.

    x [N, T, F] (time-major), kernel [kt, kf, H, co] -> [N, T, n_bins, co], equal (up to float
    summation order) to ``freq_blocked_conv(stack, kernel)`` where stack [N, T, n_bins, H] holds
    x[..., f + shifts[h]] (``features.harmonic_stack``, zeros outside x). Channel h of the stack is
    x shifted by shifts[h], so for every output whose kf-wide window lies inside [0, n_bins) the
    H kernels add up into one kernel over x, of width max(shifts) − min(shifts) + kf (176 instead
    of 8 × 39 taps for Basic Pitch's contour layer), applied to one channel with frequency blocks
    of ``block``. The kf − 1 outputs at the two ends, whose windows reach past the stack's edges
    (where the stack is zero, not x), are computed from slices of the stack. Where that would not
    save multiply-adds (widely spaced shifts, or fewer than kf bins), the stack is built and convolved.

    Derivatives (forward and reverse) are those of the stack's convolution, whose transposes are
    faster than the combined kernel's (a one-channel input makes its input gradient a convolution
    with one output channel).
    """
    if len(shifts) != np.shape(kernel)[2]:
        raise ValueError(f"shifts must have one entry per kernel input channel ({np.shape(kernel)[2]}), got {shifts!r}")
    return _harmonic_stack_conv(x, kernel, tuple(int(s) for s in shifts), n_bins, block)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _harmonic_stack_conv(x, kernel, shifts, n_bins, block):
    n, t, f = x.shape
    kt, kf, n_harmonics, co = kernel.shape
    left, right = (kf - 1) // 2, kf // 2
    lo, hi = min(shifts), max(shifts)
    width = hi - lo + kf
    if n_bins < kf or width >= n_harmonics * kf:
        return freq_blocked_conv(_stack(x, shifts, 0, n_bins), kernel, block=block)
    # combined[dt, g, o] = sum_h kernel[dt, g + lo − shifts[h], h, o]: tap g of output f reads x[f − left + lo + g]
    place = np.zeros((n_harmonics, kf, width), np.float32)
    for h, s in enumerate(shifts):
        place[h, np.arange(kf), np.arange(kf) + s - lo] = 1.0
    combined = jnp.einsum("tdho,hdg->tgo", kernel, place)[:, :, None, :]
    n_inner = n_bins - left - right  # outputs left … n_bins − right − 1
    inner = _valid_blocked_conv(_bins(x, lo, n_inner + width - 1)[..., None], combined, stride=1, block=block,
                                n_out=n_inner)
    # the ends: a zero margin, then the stack's first / last kf − 1 bins;
    # outputs [0, left) and [n_bins − right, n_bins)
    margin = max(left, right)
    heads = jnp.pad(_stack(x, shifts, 0, kf - 1), ((0, 0), (0, 0), (margin, 0), (0, 0)))
    tails = jnp.pad(_stack(x, shifts, n_bins - kf + 1, kf - 1), ((0, 0), (0, 0), (0, margin), (0, 0)))
    ends = _valid_blocked_conv(jnp.concatenate([heads, tails]), kernel, stride=1, block=block, n_out=margin)
    return jnp.concatenate([ends[:n, :, margin - left :], inner, ends[n:, :, :right]], axis=2)


@functools.partial(_harmonic_stack_conv.defjvp, symbolic_zeros=True)
def _harmonic_stack_conv_jvp(shifts, n_bins, block, primals, tangents):
    x, kernel = primals
    dx, dkernel = tangents
    y = _harmonic_stack_conv(x, kernel, shifts, n_bins, block)
    parts = [freq_blocked_conv(_stack(a, shifts, 0, n_bins), k, block=block)
             for a, k, tangent in ((dx, kernel, dx), (x, dkernel, dkernel)) if not isinstance(tangent, SymbolicZero)]
    return y, sum(parts[1:], parts[0]) if parts else jnp.zeros_like(y)


class FreqBlockedConv(nn.Module):
    """``nn.Conv(features, kernel_size, strides=(1, stride), padding="SAME")`` (same parameters
    ``kernel`` [kt, kf, ci, co] and ``bias`` [co], same initialisers) on NHWC input, computed by
    ``freq_blocked_conv`` with frequency blocks of ``block`` outputs.

    Called on several inputs, it convolves their concatenation along channels, part by part
    (a 33-channel concatenation is much slower to convolve than its 32- and 1-channel parts).
    """

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    block: int = 1

    @nn.compact
    def __call__(self, *xs: jax.Array) -> jax.Array:
        channels = [x.shape[-1] for x in xs]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (*self.kernel_size, sum(channels), self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        bounds = np.cumsum([0, *channels])
        parts = [
            freq_blocked_conv(x, kernel[:, :, a:b], stride=self.stride, block=self.block)
            for x, a, b in zip(xs, bounds[:-1], bounds[1:])
        ]
        return sum(parts[1:], parts[0]) + bias


class HarmonicStackConv(nn.Module):
    """``FreqBlockedConv`` (stride 1) applied to the harmonic stack of x [N, T, F], computed by
    ``harmonic_stack_conv``: parameters ``kernel`` [kt, kf, H, co] and ``bias`` [co]."""

    features: int
    kernel_size: tuple[int, int]
    shifts: tuple[int, ...]
    n_bins: int
    block: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (*self.kernel_size, len(self.shifts), self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return harmonic_stack_conv(x, kernel, shifts=self.shifts, n_bins=self.n_bins, block=self.block) + bias


class BasicPitch(nn.Module):
    """Basic Pitch posteriorgram model.

    ``__call__(x, train=False)``: x [..., F, T] NormalizedLog CQT with F = ``config.n_input_bins``
    bins (103·B by default) at B bins per semitone from the lowest pitch; returns {"note": [..., P, T], "onset": [..., P, T],
    "contour": [..., P·B, T]}.
    """

    config: BasicPitchConfig = BasicPitchConfig()

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
        n = x.shape[0]
        chunk = eval_chunk(n)
        if (train or self.is_initializing() or n <= chunk or jax.default_backend() != "cpu"
                or self.is_mutable_collection("intermediates")):  # captured layers keep the batch as one axis
            y = self.network(x, train=train)
        else:  # CPU inference: a loop over chunks of examples keeps every intermediate in cache
            # step i takes examples i, i + n/chunk, …: a batch sharded over devices stays spread over them
            loop = nn.scan(
                lambda module, carry, xs: (carry, module.network(xs, train=False)),
                variable_broadcast=["params", "batch_stats"],
                split_rngs={"params": False},
                in_axes=1,
                out_axes=1,
            )
            _, y = loop(self, None, x.reshape(chunk, n // chunk, n_bins, n_frames))
            y = {k: v.reshape(n, *v.shape[2:]) for k, v in y.items()}
        return {k: v.reshape(*batch_shape, *v.shape[1:]) for k, v in y.items()}

    @nn.compact
    def network(self, x: jax.Array, *, train: bool = False) -> dict[str, jax.Array]:
        """The network on x [N, F, T]: {"note": [N, P, T], "onset": [N, P, T], "contour": [N, P·B, T]}.

        ``__call__`` without the inference loop over chunks of examples: apply it with
        ``method=BasicPitch.network`` to capture or intercept its layers (``capture_intermediates``,
        ``nn.intercept_methods``) with the batch as one axis.
        """
        cfg = self.config
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
        h = HarmonicStackConv(
            cfg.n_filters_contour,
            (3, cfg.contour_span_semitones * B),
            shifts=features.harmonic_shifts(cfg.harmonics, cfg.bins_per_octave),
            n_bins=cfg.n_contour_bins,
            block=blocks.get("contour_conv", 1),
            name="contour_conv",
        )(jnp.swapaxes(x, 1, 2))  # = conv("contour_conv", ...)(stack)
        h = nn.relu(batch_norm(name="contour_bn")(h))
        contour = nn.sigmoid(conv("contour_out", 1, (5, 5))(h))  # [N, T, F', 1]

        h = nn.relu(conv("note_conv", cfg.n_filters_notes, (7, 7), B)(contour))
        note = nn.sigmoid(conv("note_out", 1, (7, 3))(h))  # [N, T, P, 1]

        h = conv("onset_conv", cfg.n_filters_onsets, (5, 5), B)(stack)
        h = nn.relu(batch_norm(name="onset_bn")(h))
        onset = nn.sigmoid(conv("onset_out", 1, (3, 3))(note, h))  # on concat([note, h]) [N, T, P, 33]: [N, T, P, 1]

        def to_pt(y):  # [N, T, bins, 1] -> [N, bins, T]
            return jnp.swapaxes(y[..., 0], -1, -2)

        return {"note": to_pt(note), "onset": to_pt(onset), "contour": to_pt(contour)}
