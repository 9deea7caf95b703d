"""Pretrained Basic Pitch weights, read from the ``nmp.onnx`` shipped in the basic-pitch wheel.

The ONNX graph has the batch norms folded: the input BN is a Mul and an Add by 1-element
constants, the other BNs are folded into their convolutions' kernels and biases. Initializer
names mislead (a ``conv2d_5`` name holds a zero low-pass bias, ``re_lu_*`` names hold biases), so
tensors are mapped by the structure of the graph: the learned convolutions are the Conv nodes
whose kernel is not the CQT's [·, 1, 1, 256] bank, taken in graph order and checked by shape.

Converted arrays are cached as an .npz (written atomically) in ``$AMT_JAX_CACHE`` or
``$XDG_CACHE_HOME/amt_jax`` (default ``~/.cache/amt_jax``), keyed by the ONNX file's hash and
:data:`CONVERTER_VERSION` (bump it whenever :func:`convert`'s output changes).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pathlib

import numpy as np

from amt_jax.io import atomic_write

ONNX_RESOURCE = ("saved_models", "icassp_2022", "nmp.onnx")
ONNX_INPUT = "serving_default_input_2:0"  # [N, 43844, 1] audio
ONNX_OUTPUTS = {  # as basic_pitch.inference maps them; [N, 172, bins]
    "contour": "StatefulPartitionedCall:0",
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
}

# Learned convolutions in graph order: (name, OIHW kernel shape). Kernels are returned as HWIO.
CONV_LAYOUT = (
    ("onset_conv", (32, 8, 5, 5)),
    ("contour_conv", (8, 8, 3, 39)),
    ("contour_out", (1, 8, 5, 5)),
    ("note_conv", (32, 1, 7, 7)),
    ("note_out", (1, 32, 7, 3)),
    ("onset_out", (1, 33, 3, 3)),
)

CONVERTER_VERSION = 1  # part of the cache key: bump when convert() changes what it returns


def onnx_model_path() -> pathlib.Path:
    """Path of ``basic_pitch/saved_models/icassp_2022/nmp.onnx`` in the installed wheel.

    Located through the package's import spec, without importing ``basic_pitch`` (its
    ``__init__`` probes TensorFlow/CoreML/TFLite and logs warnings).
    """
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("basic-pitch is not installed: pip install --no-deps basic-pitch==0.4.0")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))).joinpath(*ONNX_RESOURCE)
    if not path.is_file():
        raise FileNotFoundError(f"the basic-pitch wheel has no {'/'.join(ONNX_RESOURCE)} (looked at {path})")
    return path


def cache_dir() -> pathlib.Path:
    """``$AMT_JAX_CACHE``, else ``$XDG_CACHE_HOME/amt_jax``, else ``~/.cache/amt_jax``."""
    if os.environ.get("AMT_JAX_CACHE"):
        return pathlib.Path(os.environ["AMT_JAX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "amt_jax"


def convert(onnx_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the learned tensors of Basic Pitch's ONNX graph.

    Returns:
        float32 arrays: ``input_bn_scale`` [1], ``input_bn_bias`` [1] (folded input batch norm,
        y = scale·x + bias), and for each name of ``CONV_LAYOUT`` ``<name>_kernel`` [kh, kw, in, out]
        (H = time, W = frequency) and ``<name>_bias`` [out], with downstream BNs folded in.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in graph.initializer}

    def constant_inputs(node):
        return [inits[name] for name in node.input if name in inits]

    def single(op_type: str) -> np.ndarray:
        found = [c for n in graph.node if n.op_type == op_type for c in constant_inputs(n) if c.shape == (1,)]
        if len(found) != 1:
            raise ValueError(
                f"{onnx_path}: expected one {op_type} by a [1] constant (the folded input BN), found {len(found)}"
            )
        return found[0]

    convs = [n for n in graph.node if n.op_type == "Conv" and inits[n.input[1]].shape[1:] != (1, 1, 256)]
    if [inits[n.input[1]].shape for n in convs] != [shape for _, shape in CONV_LAYOUT]:
        raise ValueError(
            f"{onnx_path}: learned Conv kernels {[inits[n.input[1]].shape for n in convs]} do not match "
            f"the ICASSP 2022 layout {[shape for _, shape in CONV_LAYOUT]}"
        )
    out = {"input_bn_scale": single("Mul"), "input_bn_bias": single("Add")}
    for (name, _), node in zip(CONV_LAYOUT, convs):
        out[f"{name}_kernel"] = np.ascontiguousarray(inits[node.input[1]].transpose(2, 3, 1, 0))
        out[f"{name}_bias"] = inits[node.input[2]]
    return out


def intermediate_names(graph) -> dict[str, str]:
    """Names of Basic Pitch's intermediate tensors in its ONNX ``graph``, found by structure.

    Returns:
        ``cqt``: |C| [N, 309, 172] (the magnitude Sqrt); ``normalized_log``: [N, 172, 309];
        ``input_bn``: after the folded input BN [N, 172, 309, 1]; ``harmonic_stack``: [N, 172, 264, 8].
        Append one to ``graph.output`` (``onnx.helper.make_tensor_value_info(name, FLOAT, None)``)
        to have onnxruntime return it.
    """
    producer = {out: node for node in graph.node for out in node.output}
    consumers = lambda name: [n for n in graph.node if name in n.input]  # noqa: E731
    constants = {t.name: tuple(t.dims) for t in graph.initializer}

    def only(nodes, what):
        if len(nodes) != 1:
            raise ValueError(f"expected one {what} in the Basic Pitch graph, found {len(nodes)}")
        return nodes[0]

    sqrt = only([n for n in graph.node if n.op_type == "Sqrt"], "Sqrt (CQT magnitude)")
    bn_mul = only(
        [n for n in graph.node if n.op_type == "Mul" and any(constants.get(i) == (1,) for i in n.input)], "input-BN Mul"
    )
    bn_add = only(consumers(bn_mul.output[0]), "input-BN Add")
    concat = only([n for n in consumers(bn_add.output[0]) if n.op_type == "Concat"], "harmonic-stack Concat")
    return {
        "cqt": sqrt.output[0],
        "normalized_log": producer[bn_mul.input[0]].input[0],
        "input_bn": bn_add.output[0],
        "harmonic_stack": only(consumers(concat.output[0]), "harmonic-stack Slice").output[0],
    }


def onnxruntime_reference(*, extra_outputs: tuple[str, ...] = (), threads: int = 0):
    """onnxruntime on the wheel's nmp.onnx, as the reference our port is checked against.

    Args:
        extra_outputs: keys of ``intermediate_names`` to return as well (in the graph's layout).
        threads: onnxruntime intra-op threads (0 = its default).

    Returns:
        ``run(audio)``: audio [N, 43844] float32 -> {"note": [N, 88, 172], "onset": [N, 88, 172],
        "contour": [N, 264, 172]} (our [N, P, T] layout) plus the requested intermediates.
    """
    import onnx
    import onnxruntime

    model = onnx.load(str(onnx_model_path()))
    names = intermediate_names(model.graph)
    for key in extra_outputs:
        model.graph.output.append(onnx.helper.make_tensor_value_info(names[key], onnx.TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    fetch = {**ONNX_OUTPUTS, **{key: names[key] for key in extra_outputs}}

    def run(audio) -> dict[str, np.ndarray]:
        values = session.run(list(fetch.values()), {ONNX_INPUT: np.asarray(audio, np.float32)[..., None]})
        out = dict(zip(fetch, values))
        return {k: (v.transpose(0, 2, 1) if k in ONNX_OUTPUTS else v) for k, v in out.items()}

    return run


def load(onnx_path: str | os.PathLike | None = None, *, cache: bool = True) -> dict[str, np.ndarray]:
    """``convert(onnx_path)`` (default: the wheel's nmp.onnx), through the .npz cache when ``cache``.

    A cache that cannot be written (read-only home) is skipped silently; nothing is downloaded.
    """
    path = pathlib.Path(onnx_path) if onnx_path is not None else onnx_model_path()
    if not cache:
        return convert(path)
    target = cache_dir() / f"basic_pitch_icassp2022_v{CONVERTER_VERSION}_{onnx_digest(path)}.npz"
    if target.is_file():
        with np.load(target) as data:
            return {k: data[k] for k in data.files}
    weights = convert(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **weights)
        atomic_write(target, buf.getvalue())
    except OSError:
        pass
    return weights


def onnx_digest(onnx_path: str | os.PathLike | None = None) -> str:
    """SHA-256 (16 hex digits) of the ONNX file (default: the wheel's nmp.onnx); keys the cache."""
    path = pathlib.Path(onnx_path) if onnx_path is not None else onnx_model_path()
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
