"""Centred kernel alignment (CKA) between layer representations of networks, in JAX.

Estimators (rows are examples, columns features; linear kernels ``K = X Xᵀ``):

* :func:`linear_cka` ``(x [n, p], y [n, q])`` — Kornblith et al. (2019):
  ``‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F)`` with column-centred ``Xc``, ``Yc`` (the biased HSIC).
* :func:`hsic_unbiased` ``(K [n, n], L [n, n])`` — Song et al. (2012): the U-statistic
  ``[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))`` with zeroed diagonals, an
  unbiased estimate of HSIC at every n >= 4 (linear kernels: ``‖Cov(x, y)‖²_F``).
* :func:`minibatch_cka` ``(x [b, n, p], y [b, n, q])`` — Nguyen et al. (2021): ``Σ_b HSIC₁(K_b, L_b) /
  sqrt(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b))``; it converges to the population CKA whatever
  the minibatch size (the sums are unbiased).

Representations of a network (:func:`activations`): a model's ``intermediates`` capability, the
layers it names (Basic Pitch: the harmonic stack of the normalised input and the pre-activation
outputs of its six convolutions). Rows are frames: ``frames_per_clip`` frames of each
clip, drawn without replacement with ``fold_in(key, clip)``; each clip is one minibatch, so CKA
compares the frame-to-frame variation within clips. Intervals are percentile bootstraps over
pieces (clusters; resample b uses ``fold_in(key, b)``) of the ratio of summed HSIC terms.

Networks with different frame steps (two families whose frontends frame the audio at different
hops) are compared at the same instants (:mod:`amt_jax.explain.cka_frames`): each network gives
its frame step (:class:`Network` ``hop_length`` and ``sample_rate``; frame t centred on sample
``t·hop``, so ``n_samples // hop + 1`` frames); the rows are drawn among the frames of the
network with the coarsest step, and every other network takes, for each row, its frame nearest
in time (off by at most half its own, finer, step; ``CKAResult.max_offset_ms`` says how far).
Equal steps give the same frames on both sides, as before. :func:`input_network` makes a
network's input features a layer of their own: CKA with it says how much of a layer's geometry
is already in the input.

Reading CKA(h(X), h(πX)): a permutation of the bins is an orthogonal map of the input, to which
linear CKA is invariant, so the harmonic stack's value is ≈ 1 whatever π (exactly 1 but for the
stack's zero-filled edges). The convolutions are local in frequency and break that symmetry: a
drop below 1 at a layer says the layer's frame-to-frame geometry changed; a return towards 1
deeper says the change vanished there.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax import perturb
from amt_jax.explain.cka_frames import aligned_rows, frame_rows
from amt_jax.stats import check_clusters
_KEY_FRAMES, _KEY_DRAWS, _KEY_BOOTSTRAP = 0, 1, 2  # fold_in tags of the roles of one key


def _rows(name: str, x, rank: int, doc: str) -> jax.Array:
    validate.exact_rank(name, x, rank, doc)
    validate.finite(name, x)
    return jnp.asarray(x, jnp.float32)


def linear_cka(x, y) -> jax.Array:
    """Linear CKA of ``x [n, p]`` and ``y [n, q]`` (same rows), a scalar in [0, 1]."""
    x, y = _rows("x", x, 2, "[n, p]"), _rows("y", y, 2, "[n, q]")
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"x and y must have the same number n >= 2 of rows, got shapes {x.shape} and {y.shape}")
    x, y = x - x.mean(0), y - y.mean(0)
    hp = jax.lax.Precision.HIGHEST
    cross = jnp.sum(jnp.matmul(y.T, x, precision=hp) ** 2)
    return cross / jnp.sqrt(jnp.sum(jnp.matmul(x.T, x, precision=hp) ** 2) * jnp.sum(jnp.matmul(y.T, y, precision=hp) ** 2))


def hsic_unbiased(k, l) -> jax.Array:
    """Song et al.'s unbiased HSIC estimator of Gram matrices ``k``, ``l`` ``[n, n]`` (n >= 4), a scalar."""
    k, l = _rows("k", k, 2, "[n, n]"), _rows("l", l, 2, "[n, n]")
    n = k.shape[0]
    if k.shape != (n, n) or l.shape != (n, n) or n < 4:
        raise ValueError(f"k and l must be square [n, n] Gram matrices of the same n >= 4, got {k.shape} and {l.shape}")
    return _hsic1(k, l)


def _hsic1(k: jax.Array, l: jax.Array) -> jax.Array:
    n = k.shape[-1]
    eye = jnp.eye(n, dtype=k.dtype)
    k, l = k * (1 - eye), l * (1 - eye)
    kl = jnp.matmul(k, l, precision=jax.lax.Precision.HIGHEST)
    trace = jnp.sum(k * l.swapaxes(-1, -2), axis=(-2, -1))
    sums = jnp.sum(k, axis=(-2, -1)) * jnp.sum(l, axis=(-2, -1)) / ((n - 1) * (n - 2))
    return (trace + sums - 2.0 / (n - 2) * jnp.sum(kl, axis=(-2, -1))) / (n * (n - 3))


def gram(x: jax.Array) -> jax.Array:
    """Linear Gram matrices of the row-centred features, ``xc xcᵀ``: ``[..., n, d] -> [..., n, n]``.

    HSIC₁ is unchanged by centring (it is a function of differences of rows), but uncentred
    activations give Gram matrices with a large common offset whose cancellation costs float32
    precision (measured: self-CKA 0.9996 instead of 1)."""
    x = x - jnp.mean(x, axis=-2, keepdims=True)
    return jnp.matmul(x, x.swapaxes(-1, -2), precision=jax.lax.Precision.HIGHEST)


def hsic_terms(x, y) -> jax.Array:
    """Per minibatch ``[HSIC₁(K, L), HSIC₁(K, K), HSIC₁(L, L)]``: ``x [b, n, p]``, ``y [b, n, q]`` → ``[b, 3]``."""
    x, y = _rows("x", x, 3, "[b, n, p]"), _rows("y", y, 3, "[b, n, q]")
    if x.shape[:2] != y.shape[:2] or x.shape[1] < 4:
        raise ValueError(f"x and y must have the same minibatches [b, n >= 4, ...], got shapes {x.shape} and {y.shape}")
    k, l = gram(x), gram(y)
    return jnp.stack([_hsic1(k, l), _hsic1(k, k), _hsic1(l, l)], axis=-1)


def cka_of_terms(terms) -> np.ndarray:
    """Minibatch CKA from summed HSIC terms ``[..., b, 3]`` (sum over b): ``[...]`` (NaN where a
    self-term sum is not positive)."""
    s = np.sum(np.asarray(terms, np.float64), axis=-2)
    ok = (s[..., 1] > 0) & (s[..., 2] > 0)
    return np.where(ok, s[..., 0] / np.sqrt(np.where(ok, s[..., 1] * s[..., 2], 1.0)), np.nan)


def minibatch_cka(x, y) -> float:
    """Nguyen et al.'s minibatch CKA of ``x [b, n, p]`` and ``y [b, n, q]`` (minibatch i of x pairs with i of y)."""
    return float(cka_of_terms(hsic_terms(x, y)))


# --------------------------------------------------------------------------- networks and layers


class Network(NamedTuple):
    """A network's view for CKA: ``intermediates(params, x [N, F, T], names) -> {name: [N, T, D]}``
    (a model's capability), its ``params``, the names it gives (``layers``, input → output), its
    ``frontend(audio) -> X`` and the frame step of that frontend: a frame every ``hop_length``
    samples of audio at ``sample_rate`` Hz (None: not known; networks compared must then frame alike)."""

    intermediates: Any
    params: Any
    layers: tuple[str, ...]
    frontend: Any = None
    hop_length: int | None = None
    sample_rate: int | None = None


def network(model, *, sample_rate: int | None = None, hop_length: int | None = None) -> Network:
    """The :class:`Network` of a :class:`~amt_jax.models.Model` (its ``intermediates`` capability);
    with ``sample_rate`` and ``hop_length``, its frontend for audio at that rate framed every
    ``hop_length`` samples (:meth:`~amt_jax.models.Model.frontend_on`)."""
    intermediates = model.require("intermediates", "CKA")
    if sample_rate is None and hop_length is None:
        return Network(intermediates, model.params, tuple(model.layers), model.frontend)
    validate.positive_int("sample_rate", sample_rate)
    validate.positive_int("hop_length", hop_length)
    frontend = model.frontend_on(sample_rate, hop_length, "CKA")
    return Network(intermediates, model.params, tuple(model.layers), frontend, hop_length, sample_rate)


def _frontend_frames(params, x, names):
    return {names[0]: jnp.swapaxes(x, -1, -2)}


def input_network(net: Network, name: str = "frontend") -> Network:
    """The one-layer network whose layer ``name`` is ``net``'s input features themselves (each frame's
    F bins), on ``net``'s frontend and frame step: CKA of a layer with it says how much of the layer's
    frame-to-frame geometry its input already has."""
    return Network(_frontend_frames, None, (name,), net.frontend, net.hop_length, net.sample_rate)


def activations(net: Network, x, *, layers: tuple[str, ...] | None = None) -> dict[str, jax.Array]:
    """Per layer ``[N, T, D]`` (frames × flattened frequency-channel features) for ``x [N, F, T]``."""
    layers = _check_layers("layers", net, net.layers if layers is None else layers)
    x = _rows("x", x, 3, "[N, F, T]")
    return _activations(net.intermediates, net.params, x, layers=layers)


@functools.partial(jax.jit, static_argnames=("intermediates", "layers"))
def _activations(intermediates, params, x, *, layers: tuple[str, ...]) -> dict[str, jax.Array]:
    return intermediates(params, x, layers)


def _select(h: jax.Array, rows: np.ndarray) -> jax.Array:
    return jnp.take_along_axis(h, jnp.asarray(rows)[:, :, None], axis=1)


class CKAResult(NamedTuple):
    """CKA estimates with piece-level 95 % percentile-bootstrap intervals.

    ``cka``, ``ci_low``, ``ci_high``: ``[len(rows), len(cols)]`` (layer × layer) or ``[len(rows)]``
    (per layer); ``terms``: the per-clip HSIC terms ``[..., n_clips, 3]`` (per draw first for
    :func:`permutation_cka`); ``rows``/``cols``: layer names; ``n_clusters``: pieces;
    ``max_offset_ms``: the largest time between the two sides' frames of a row (:func:`aligned_rows`).
    """

    cka: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    terms: np.ndarray
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    n_clusters: int
    max_offset_ms: float = 0.0


@functools.partial(jax.jit, static_argnums=(1, 2))
def _resample_pieces(key, n_resamples, n_pieces):
    """``[n_resamples, n_pieces]`` piece indices drawn with replacement, resample b from ``fold_in(key, b)``."""
    return jax.vmap(lambda b: jax.random.randint(jax.random.fold_in(key, b), (n_pieces,), 0, n_pieces))(
        jnp.arange(n_resamples))


def bootstrap_ci(terms, clusters, key: jax.Array, *, n_resamples: int = 1000, confidence: float = 0.95,
                 draw_axis: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of :func:`cka_of_terms` over resamples of whole pieces.

    ``terms [..., n_clips, 3]`` (``[n_draws, ..., n_clips, 3]`` with ``draw_axis``: the statistic is
    the mean CKA over draws); ``clusters [n_clips]`` piece ids. NaN with fewer than 2 pieces.
    """
    terms = np.asarray(terms, np.float64)
    ids, inverse_ids = np.unique(check_clusters("clusters", clusters, terms.shape[-2]), return_inverse=True)
    shape = terms.shape[1:-2] if draw_axis else terms.shape[:-2]
    if len(ids) < 2:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    per_piece = np.stack([terms[..., inverse_ids == i, :].sum(-2) for i in range(len(ids))], axis=-2)
    picks = np.asarray(_resample_pieces(key, n_resamples, len(ids)))
    stats = np.stack([cka_of_terms(per_piece[..., p, :]) for p in picks])  # [n_resamples, (draws,) ...]
    if draw_axis:
        stats = np.nanmean(stats, axis=1)
    alpha = (1 - confidence) / 2
    return np.nanquantile(stats, alpha, axis=0), np.nanquantile(stats, 1 - alpha, axis=0)


@functools.partial(jax.jit, static_argnames=("intermediates", "layers"))
def _grams(intermediates, params, x, rows, *, layers: tuple[str, ...]) -> jax.Array:
    """Gram matrices ``[L, N, R, R]`` of the chosen frames ``rows [N, R]`` of each layer."""
    h = intermediates(params, x, layers)
    return jnp.stack([gram(_select(h[name], rows)) for name in layers])


def _layer_grams(net: Network, x, rows: np.ndarray, layers, chunk_size: int) -> jax.Array:
    parts = [_grams(net.intermediates, net.params, x[i : i + chunk_size], rows[i : i + chunk_size], layers=tuple(layers))
             for i in range(0, x.shape[0], chunk_size)]
    return jnp.concatenate(parts, axis=1)


@jax.jit
def _pair_hsic(k: jax.Array, l: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``k [La, N, R, R]``, ``l [Lb, N, R, R]`` → HSIC₁(k_i, l_j) ``[La, Lb, N]``, HSIC₁(k, k) ``[La, N]``, HSIC₁(l, l) ``[Lb, N]``."""
    cross = jax.vmap(lambda ki: jax.vmap(lambda lj: _hsic1(ki, lj))(l))(k)
    return cross, _hsic1(k, k), _hsic1(l, l)


def _pair_terms(k: jax.Array, l: jax.Array) -> np.ndarray:
    """``k [La, N, R, R]``, ``l [Lb, N, R, R]`` → terms ``[La, Lb, N, 3]``."""
    cross, kk, ll = (np.asarray(a) for a in _pair_hsic(k, l))
    return np.stack([cross, np.broadcast_to(kk[:, None], cross.shape), np.broadcast_to(ll[None], cross.shape)], axis=-1)


@jax.jit
def _draw_terms(base: jax.Array, moved: jax.Array) -> jax.Array:
    """Layer by layer (``[L, N, R, R]`` each): terms ``[L, N, 3]`` of CKA(base, moved)."""
    return jnp.stack([_hsic1(base, moved), _hsic1(base, base), _hsic1(moved, moved)], axis=-1)


def _check_layers(name: str, net: Network, layers) -> tuple[str, ...]:
    layers = tuple(layers)
    if not layers:
        raise ValueError(f"{name} must name at least one layer of {net.layers}, got ()")
    for layer in layers:
        validate.one_of(name, layer, net.layers)
    return layers


def layer_grams(nets, audio, *, key: jax.Array, frames_per_clip: int = 64, layers=None,
                chunk_size: int = 8) -> tuple[list[jax.Array], float]:
    """Gram matrices ``[L, N, R, R]`` of each network's ``layers`` (a sequence, one per network;
    default: all) at the same instants of ``audio [N, n_samples]``, each network through its own
    frontend (rows: :func:`aligned_rows` with ``fold_in(key, 0)``); and the rows' largest time
    offset between networks, ms."""
    nets = tuple(nets)
    layers = [_check_layers("layers", n, n.layers if ls is None else ls)
              for n, ls in zip(nets, [None] * len(nets) if layers is None else layers)]
    validate.positive_int("chunk_size", chunk_size)
    audio = _rows("audio", audio, 2, "[N, n_samples]")
    if any(n.frontend is None for n in nets):
        raise ValueError("every network needs a frontend (networks that read audio)")
    xs = [n.frontend(audio) for n in nets]
    rows, offset = aligned_rows(nets, [x.shape[-1] for x in xs], audio.shape[-1], key=jax.random.fold_in(key, _KEY_FRAMES),
                                n_clips=audio.shape[0], frames_per_clip=frames_per_clip)
    return [_layer_grams(n, x, r, ls, chunk_size) for n, x, r, ls in zip(nets, xs, rows, layers)], offset


def grams_cka(k: jax.Array, l: jax.Array, rows, cols, *, key: jax.Array, clusters=None, n_resamples: int = 1000,
              max_offset_ms: float = 0.0) -> CKAResult:
    """Layer × layer CKA of Gram matrices ``k [La, N, R, R]`` and ``l [Lb, N, R, R]`` (:func:`layer_grams`;
    ``rows``, ``cols``: their layer names) with its piece-bootstrap interval (resample b from
    ``fold_in(fold_in(key, 2), b)``)."""
    clusters = check_clusters("clusters", clusters, k.shape[1])
    terms = _pair_terms(k, l)
    low, high = bootstrap_ci(terms, clusters, jax.random.fold_in(key, _KEY_BOOTSTRAP), n_resamples=n_resamples)
    return CKAResult(cka_of_terms(terms), low, high, terms, tuple(rows), tuple(cols), len(np.unique(clusters)),
                     float(max_offset_ms))


def layer_cka(net_a: Network, net_b: Network, audio, *, key: jax.Array, clusters=None, frames_per_clip: int = 64,
              layers_a=None, layers_b=None, chunk_size: int = 8, n_resamples: int = 1000) -> CKAResult:
    """Layer × layer minibatch CKA between two networks on the same audio.

    Args:
      net_a, net_b: :class:`Network` s with frontends (e.g. ``network(registry.load(spec))``).
      audio: clips ``[N, n_samples]``; the frontends frame alike, or both networks give their frame
        step (rows at the same instants, by nearest frame: :func:`aligned_rows`).
      key: frames use ``fold_in(fold_in(key, 0), clip)``, bootstrap resample b ``fold_in(fold_in(key, 2), b)``.
      clusters: piece id of each clip ``[N]`` (None: each clip its own piece).
      frames_per_clip: rows R per clip (minibatch size, >= 4).
      layers_a, layers_b: layers compared (rows and columns of the result).
      chunk_size: clips per forward pass (memory bound only).
    """
    layers_a = _check_layers("layers_a", net_a, net_a.layers if layers_a is None else layers_a)
    layers_b = _check_layers("layers_b", net_b, net_b.layers if layers_b is None else layers_b)
    audio = _rows("audio", audio, 2, "[N, n_samples]")
    clusters = check_clusters("clusters", clusters, audio.shape[0])
    (k, l), offset = layer_grams((net_a, net_b), audio, key=key, frames_per_clip=frames_per_clip,
                                 layers=(layers_a, layers_b), chunk_size=chunk_size)
    return grams_cka(k, l, layers_a, layers_b, key=key, clusters=clusters, n_resamples=n_resamples, max_offset_ms=offset)


def permutation_cka(net: Network, x, *, family, key: jax.Array, n_draws: int, clusters=None, frames_per_clip: int = 64,
                    layers=None, chunk_size: int = 8, n_resamples: int = 1000) -> CKAResult:
    """Per layer CKA(h(X), h(πX)), the mean over ``n_draws`` draws of ``family``.

    Args:
      net: the :class:`Network`; ``x``: its input features ``[N, F, T]``.
      family: a perturbation family (:mod:`amt_jax.perturb.permutations`); draw d uses
        ``fold_in(fold_in(key, 1), d)`` and is the same for every clip, as in the importance engine.
      key, clusters, frames_per_clip, chunk_size, n_resamples: as in :func:`layer_cka`.

    Returns:
      :class:`CKAResult` with ``cka [L]`` (1 = the layer does not see the permutation), its
      piece-bootstrap interval and ``terms [n_draws, L, N, 3]``.
    """
    perturb.check_family(family)
    layers = _check_layers("layers", net, net.layers if layers is None else layers)
    validate.positive_int("n_draws", n_draws)
    validate.positive_int("chunk_size", chunk_size)
    x = _rows("x", x, 3, "[N, F, T]")
    if x.shape[1] != family.n_bins:
        raise ValueError(f"x must have the family's {family.n_bins} bins on axis 1, got shape {x.shape}")
    clusters = check_clusters("clusters", clusters, x.shape[0])
    rows = frame_rows(jax.random.fold_in(key, _KEY_FRAMES), x.shape[0], x.shape[-1], frames_per_clip)
    base = _layer_grams(net, x, rows, layers, chunk_size)
    draws_key = jax.random.fold_in(key, _KEY_DRAWS)
    perturbed = jax.jit(lambda k, v: perturb.perturb(family, k, v)[0])
    terms = []
    for d in range(n_draws):
        moved = _layer_grams(net, perturbed(jax.random.fold_in(draws_key, d), x), rows, layers, chunk_size)
        terms.append(np.asarray(_draw_terms(base, moved)))
    terms = np.stack(terms)  # [D, L, N, 3]
    low, high = bootstrap_ci(terms, clusters, jax.random.fold_in(key, _KEY_BOOTSTRAP), n_resamples=n_resamples,
                             draw_axis=True)
    return CKAResult(np.nanmean(cka_of_terms(terms), axis=0), low, high, terms, layers, layers,
                     len(np.unique(clusters)))
