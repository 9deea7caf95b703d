"""Regenerate ``tests/golden/pesto.npz``: the original PESTO (pesto-pitch 2.0.1, torch) on the
signals of ``pesto_signals.py``.

Run with a torch venv (not the project's)::

    python3 -m venv /work/torchenv
    /work/torchenv/bin/pip install torch==2.13.0 numpy scipy soundfile omegaconf tqdm
    /work/torchenv/bin/pip install --no-deps pesto-pitch==2.0.1
    /work/torchenv/bin/python tests/golden/make_pesto.py [basic_pitch-0.4.0.tar.gz]

With the path of basic-pitch 0.4.0's sdist (``pip download -vvv --no-deps --no-binary :all:
basic-pitch==0.4.0`` prints its URL; its metadata does not build, so fetch that URL), the goldens
also hold a real sung recording, ``vocadito_10`` (every 8th frame's features and activations);
its audio stays in the sdist.

(pesto imports torchaudio only to read files; a stand-in module is put on sys.path when it is
missing. omegaconf is needed by torch.load: the checkpoint pickles its hyperparameters as
OmegaConf containers.)

Stored per signal NAME (float32): ``NAME/features`` the preprocessor's dB VQT [T/4, 251] and
``NAME/activations`` [T/4, 384] (every 4th frame), ``NAME/pitch`` (MIDI) and ``NAME/confidence``
[T], ``NAME/rms`` of the audio; and ``ckpt/sha256``, ``ckpt/NAME`` (the first 8 values and the
sum of |w| of every state_dict tensor, as torch reads them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if importlib.util.find_spec("torchaudio") is None:
    sys.modules["torchaudio"] = types.ModuleType("torchaudio")

import pesto  # noqa: E402
import pesto_signals  # noqa: E402
import torch  # noqa: E402
from pesto import load_model  # noqa: E402


def original(audio: np.ndarray, sr: int, stride: int) -> dict:
    """The original's features (dB) and activations every ``stride``-th frame, pitch and confidence."""
    model = load_model("mir-1k_g7", step_size=10.0, sampling_rate=sr)
    x = torch.from_numpy(audio)
    with torch.inference_mode():
        features = model.preprocessor(x.clone(), sr=sr)[0, :, 0, :]  # [T, 251] dB
        pitch, confidence, _, activations = model(x.clone(), sr=sr, convert_to_freq=False)
    print(f"{len(audio)} samples at {sr} Hz, {features.shape[0]} frames, median confidence "
          f"{float(confidence.median()):.3f}")
    return {"features": features.numpy()[::stride], "activations": activations.numpy()[::stride],
            "pitch": pitch.numpy(), "confidence": confidence.numpy(),
            "rms": np.sqrt(np.mean(np.square(audio, dtype=np.float64)))}


def main() -> None:
    torch.set_num_threads(2)
    out = {}
    ckpt = Path(pesto.__file__).parent / "weights" / "mir-1k_g7.ckpt"
    out["ckpt/sha256"] = np.array(hashlib.sha256(ckpt.read_bytes()).hexdigest())
    sd = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    for name, w in sd.items():
        flat = w.detach().numpy().reshape(-1).astype(np.float32)
        out[f"ckpt/{name}"] = np.concatenate([flat[:8], [np.abs(flat).sum()]]).astype(np.float32)
    stride = pesto_signals.FRAME_STRIDE
    runs = {name: (*pesto_signals.signal(name)[::2], stride) for name in pesto_signals.SIGNALS}
    if len(sys.argv) > 1:
        runs[pesto_signals.RECORDING[0]] = (*pesto_signals.recording(sys.argv[1]), pesto_signals.RECORDING_STRIDE)
    for name, (audio, sr, every) in runs.items():
        print(name, end=": ")
        for key, value in original(audio, sr, every).items():
            out[f"{name}/{key}"] = np.asarray(value, np.float32)
    path = HERE / "pesto.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB), torch {torch.__version__}, pesto {pesto.__version__}")


if __name__ == "__main__":
    main()
