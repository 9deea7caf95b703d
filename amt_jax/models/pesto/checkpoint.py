"""Read a PyTorch (Lightning) ``.ckpt`` without torch: numpy arrays and plain Python values.

A checkpoint written by ``torch.save`` (zip format) is a zip holding ``<archive>/data.pkl`` (a
pickle) and one raw little-endian storage per tensor under ``<archive>/data/<key>``. The pickle
rebuilds tensors with ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``, the
storages being persistent ids ``("storage", storage_type, key, location, numel)``.

:class:`_Unpickler` maps those names to local stand-ins and refuses every other global, so
reading a file runs no code of its own; hyperparameters pickled as OmegaConf containers come
back as plain dicts and lists (:func:`plain`).
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (not a torch zip, a refused global, a truncated storage)."""


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _Record:
    """Stand-in for a pickled object of an allowed container class (OmegaConf's): keeps its state."""

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"state": state}


class _Any:
    """Stand-in for ``typing.Any`` (OmegaConf metadata names it)."""


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """A numpy copy of ``storage[offset:]`` viewed with ``size`` and ``stride`` (in elements)."""
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(storage[storage_offset])
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if min(size) > 0 and needed > storage.size:
        raise CheckpointError(f"tensor of size {size} and stride {stride} needs {needed} elements, storage has {storage.size}")
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=size,
                                           strides=[s * storage.itemsize for s in stride])
    return np.array(view)


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "dict"): dict, ("__builtin__", "dict"): dict,
    ("builtins", "list"): list, ("__builtin__", "list"): list,
    ("builtins", "int"): int, ("__builtin__", "long"): int,
    ("builtins", "float"): float, ("builtins", "str"): str,
    ("typing", "Any"): _Any,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
    **{("omegaconf." + mod, cls): type(cls, (_Record,), {}) for mod, cls in (
        ("listconfig", "ListConfig"), ("dictconfig", "DictConfig"), ("base", "ContainerMetadata"),
        ("base", "Metadata"), ("nodes", "AnyNode"), ("nodes", "IntegerNode"), ("nodes", "FloatNode"),
        ("nodes", "StringNode"), ("nodes", "BooleanNode"))},
}


class _Unpickler(pickle.Unpickler):
    """Unpickles ``data.pkl``: allowed globals only, storages read from the zip as numpy arrays."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.path = archive, prefix, path
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(f"{self.path}: refused to unpickle global {module}.{name}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"{self.path}: unknown persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise CheckpointError(f"{self.path}: storage data/{key} is missing") from None
            array = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"))
            if array.size < numel:
                raise CheckpointError(f"{self.path}: storage data/{key} holds {array.size} elements, expected {numel}")
            self.storages[key] = array[:numel].astype(storage_type.dtype)
        return self.storages[key]


def plain(obj):
    """``obj`` with OmegaConf stand-ins turned into dicts, lists and their values (recursively)."""
    if isinstance(obj, _Record):
        if "_content" in obj.state:
            return plain(obj.state["_content"])
        if "_val" in obj.state:
            return plain(obj.state["_val"])
        return {k: plain(v) for k, v in obj.state.items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return obj


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's top-level dict, tensors as numpy arrays (``state_dict``: name -> array),
    hyperparameters as plain dicts/lists. CheckpointError (one line) if ``path`` is no readable
    torch zip checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"{path}: expected one data.pkl in the zip, found {len(pickles)}")
            prefix = pickles[0][: -len("data.pkl")]
            byteorder = f"{prefix}byteorder"
            if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
                raise CheckpointError(f"{path}: big-endian storages are not supported")
            return plain(_Unpickler(archive.read(pickles[0]), archive, prefix, path).load())
    except zipfile.BadZipFile:
        raise CheckpointError(f"{path} is not a torch zip checkpoint (bad zip file)") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as err:
        raise CheckpointError(f"{path}: cannot unpickle data.pkl ({type(err).__name__}: {err})") from None


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
