"""PESTO's network (pesto-pitch 2.0.1, ``mir-1k_g7``) as a Flax module; every frame on its own.

From the VQT in dB ``X [F=251]`` of one frame:

1. ``energy = 10^(X/10)`` (power) feeds the confidence head; the encoder reads
   ``X·ln(10)/10 = 2·ln|VQT|`` cropped to bins ``crop_lo .. F − crop_lo`` (16 .. 235: 219 bins,
   the original's ``CropCQT(−16, 16)``).
2. Encoder: LayerNorm over the 219 bins (eps 1e-5) → conv1 (1→40 channels, kernel 39, same
   padding) + leaky ReLU(0.3) → 2 residual prefilter convs (40→40, kernel 39, ``x + lrelu(conv x)``)
   → 1×1 convs 40→30→30→10→3, each + leaky ReLU → flatten channel-major (3·219 = 657) → the
   Toeplitz layer (a 1-D correlation with one kernel of 657 + 384 − 1 taps: a 657 → 384 linear
   map whose weights depend on ``out − in`` only) → logits [384] → softmax.
3. The activations are rolled by ``−shift_bins`` (the checkpoint's ``shift``, 6.678 semitones →
   20 bins) so output bin ``b`` is MIDI ``b/3``.
4. Confidence head on ``energy [251]``: ``relu(conv(energy; 1 kernel of 39, stride 3)) [71]``
   and the spectral flatness (geometric / arithmetic mean) → linear 72 → 1 → sigmoid.

Dropout (training only) is left out. Layers run on ``[N, 219, C]`` (bins as the spatial axis).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

DB_TO_LOG = math.log(10.0) / 10.0  # X dB · this = ln(power) = 2·ln|VQT|
LAYERNORM_EPS = 1e-5
LAYERS = ("input", "layernorm", "conv1", "prefilt_0", "prefilt_1", "conv_0", "conv_1", "conv_2", "conv_3",
          "logits", "pitch")


def leaky_relu(x, slope: float = 0.3):
    return jnp.where(x >= 0, x, slope * x)


def _conv_init(fan_in: int):
    """torch's default Conv/Linear initialisation: U(−1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


FRAME_GROUP = 4  # frames per 2-D "image" of the convolutions (see _Conv)


def correlate(x, w, *, stride: int = 1, padding: int = 0):
    """1-D correlation over bins of every frame: ``x [..., W, I]``, ``w [K, I, O]`` -> ``[..., W', O]``.

    Computed as a 2-D convolution over :data:`FRAME_GROUP` frames at a time with a kernel one frame
    high (the same multiply-adds, each frame on its own): XLA's CPU convolution ran the prefilter
    convolution (40 → 40 channels, kernel 39, 2,048 frames) this way at 95 GMAC/s against 73 GMAC/s
    in the 1-D form (2 cores, 2026-12-04; the whole forward: ``python -m amt_jax.bench model --model
    pesto``); a 1×1 kernel is a matrix product. Frames are padded to a multiple of the group.
    """
    if w.shape[0] == 1 and stride == 1 and padding == 0:
        return x @ w[0]
    lead, (width, chans) = x.shape[:-2], x.shape[-2:]
    flat = x.reshape((-1, width, chans))
    n = flat.shape[0]
    flat = jnp.pad(flat, ((0, (-n) % FRAME_GROUP), (0, 0), (0, 0)))
    y = jax.lax.conv_general_dilated(flat.reshape((-1, FRAME_GROUP, width, chans)), w[None], (1, stride),
                                     [(0, 0), (padding, padding)], dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y.reshape((-1,) + y.shape[-2:])[:n].reshape(lead + y.shape[-2:])


class _Conv(nn.Module):
    """1-D correlation over bins with torch's padding (``kernel // 2``) and initialisation: [N, W, I] -> [N, W', O]."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1] * self.kernel
        w = self.param("kernel", _conv_init(fan_in), (self.kernel, x.shape[-1], self.features))
        b = self.param("bias", _conv_init(fan_in), (self.features,))
        return correlate(x, w, stride=self.stride, padding=self.padding) + b


class _Affine(nn.Module):
    """LayerNorm's elementwise affine over the last axis (ones and zeros at init)."""

    width: int

    @nn.compact
    def __call__(self, x):
        return x * self.param("scale", nn.initializers.ones, (self.width,)) + self.param(
            "bias", nn.initializers.zeros, (self.width,))


class _Linear(nn.Module):
    """``[..., I] -> [...]``: one output unit with torch's initialisation."""

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", _conv_init(x.shape[-1]), (x.shape[-1],))
        return x @ w + self.param("bias", _conv_init(x.shape[-1]), ())


class PestoNet(nn.Module):
    """Frames ``X [N, F] dB -> {"pitch": [N, 384] probabilities, "logits": [N, 384] (rolled like
    pitch), "confidence": [N]}``; with ``capture=True`` also the named activations of :data:`LAYERS`."""

    n_bins: int = 251
    crop_lo: int = 16
    channels: tuple[int, ...] = (40, 30, 30, 10, 3)
    n_prefilt: int = 3
    prefilt_kernel: int = 39
    output_dim: int = 384
    shift_bins: int = 20
    slope: float = 0.3

    @nn.compact
    def __call__(self, x, capture: bool = False):
        acts = {}
        z = x * DB_TO_LOG
        energy = jnp.exp(z)
        confidence = self.confidence(energy)
        z = z[..., self.crop_lo:self.n_bins - self.crop_lo]
        width = z.shape[-1]
        acts["input"] = z
        mean = z.mean(-1, keepdims=True)
        var = jnp.square(z - mean).mean(-1, keepdims=True)
        h = _Affine(width, name="layernorm")((z - mean) * jax.lax.rsqrt(var + LAYERNORM_EPS))
        acts["layernorm"] = h
        pad = self.prefilt_kernel // 2
        h = leaky_relu(_Conv(self.channels[0], self.prefilt_kernel, padding=pad, name="conv1")(h[..., None]), self.slope)
        acts["conv1"] = h
        for i in range(self.n_prefilt - 1):
            h = h + leaky_relu(_Conv(self.channels[0], self.prefilt_kernel, padding=pad, name=f"prefilt_{i}")(h), self.slope)
            acts[f"prefilt_{i}"] = h
        for i, c in enumerate(self.channels[1:]):
            h = leaky_relu(_Conv(c, 1, name=f"conv_{i}")(h), self.slope)
            acts[f"conv_{i}"] = h
        flat = jnp.swapaxes(h, -1, -2).reshape(h.shape[:-2] + (-1,))  # channel-major, as torch's flatten
        logits = jnp.roll(self.toeplitz(flat), -self.shift_bins, axis=-1)
        acts["logits"] = logits
        pitch = jax.nn.softmax(logits, axis=-1)
        acts["pitch"] = pitch
        out = {"pitch": pitch, "logits": logits, "confidence": confidence}
        return (out, acts) if capture else out

    def toeplitz(self, flat):
        """``[N, n_in] -> [N, output_dim]``: ``out[j] = Σ_i flat[i]·w[i − j + output_dim − 1]``, as
        one matrix product with the ``[n_in, output_dim]`` Toeplitz matrix gathered from the taps
        (a one-channel correlation of 1,040 taps runs far below the matrix product's rate)."""
        n_in = flat.shape[-1]
        taps = n_in + self.output_dim - 1
        w = self.param("fc", _conv_init(taps), (taps,))
        return flat @ jnp.take(w, toeplitz_index(n_in, self.output_dim))

    def confidence(self, energy):
        """``energy [N, F]`` power -> voicing confidence ``[N]`` in [0, 1]."""
        geometric = jnp.exp(jnp.log(energy).mean(-1, keepdims=True))
        flatness = geometric / jnp.maximum(energy.mean(-1, keepdims=True), 1e-8)
        h = jax.nn.relu(_Conv(1, 39, stride=3, name="confidence_conv")(energy[..., None])[..., 0])
        features = jnp.concatenate([h, flatness], axis=-1)
        return jax.nn.sigmoid(_Linear(name="confidence_linear")(features))


def toeplitz_index(n_in: int, n_out: int):
    """``[n_in, n_out]`` tap index ``i − j + n_out − 1`` of the Toeplitz layer's matrix."""
    return np.arange(n_in)[:, None] - np.arange(n_out)[None, :] + n_out - 1


def variables_from_state_dict(sd: dict) -> dict:
    """Flax variables of :class:`PestoNet` from the checkpoint's ``state_dict`` (torch layouts:
    conv weight [O, I, K] -> kernel [K, I, O])."""

    def conv(prefix):
        return {"kernel": sd[f"{prefix}.weight"].transpose(2, 1, 0), "bias": sd[f"{prefix}.bias"]}

    params = {
        "layernorm": {"scale": sd["encoder.layernorm.weight"].reshape(-1), "bias": sd["encoder.layernorm.bias"].reshape(-1)},
        "conv1": conv("encoder.conv1.0"),
        "fc": sd["encoder.fc.weight"].reshape(-1),
        "confidence_conv": conv("confidence.conv"),
        "confidence_linear": {"kernel": sd["confidence.linear.weight"].reshape(-1),
                              "bias": sd["confidence.linear.bias"].reshape(())},
    }
    i = 0
    while f"encoder.prefilt_layers.{i}.0.weight" in sd:
        params[f"prefilt_{i}"] = conv(f"encoder.prefilt_layers.{i}.0")
        i += 1
    conv_keys = sorted({int(k.split(".")[2]) for k in sd if k.startswith("encoder.conv_layers.")})
    for j, idx in enumerate(conv_keys):
        params[f"conv_{j}"] = conv(f"encoder.conv_layers.{idx}")
    return {"params": params}
