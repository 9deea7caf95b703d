"""The model registry: one grammar of specs for the sweep, evaluate and transcribe."""

import numpy as np
import pytest

from amt_jax.models import planted, registry


def test_specs_parse_and_name_their_kind():
    assert registry.kind("basic-pitch") == "basic-pitch"
    assert registry.kind("trained:/some/dir") == "trained"
    assert registry.kind("planted-b3") == "planted"
    assert registry.kind("oracle") == "oracle"
    for bad in ("planted-b0", "planted", "trained:", "bp", "", None):
        with pytest.raises(ValueError, match="unknown model"):
            registry.check(bad)


def test_cli_spec_takes_a_bare_training_directory(tmp_path):
    assert registry.cli_spec(str(tmp_path)) == f"trained:{tmp_path}"
    assert registry.cli_spec("basic-pitch") == "basic-pitch"
    assert registry.cli_spec(str(tmp_path / "missing")) == str(tmp_path / "missing")  # not a directory: left as is


def test_slugs_are_file_safe():
    assert registry.slug("trained:/a/b3/") == "trained-b3"
    assert registry.slug("planted-b3") == "planted-b3"


def test_planted_model_loads_with_its_layout_and_identity():
    m = registry.load("planted-b3", seed=1)
    assert m.layout == planted.layout(3) and m.layout.n_bins == 144 and m.layout.n_pitches == 48
    assert not m.reads_audio and m.output is None
    assert m.identity["kind"] == "planted" and m.identity["seed"] == 1
    x = planted.synthetic(n_clips=2, bins_per_semitone=3, seed=1)
    y = np.asarray(m.apply(m.params, x.features))
    assert y.shape == x.targets.shape == (2, 48, planted.FRAMES)
    # the planted model reads harmonics: its output is higher where the labels say a key sounds
    assert y[x.targets > 0].mean() > y[x.targets == 0].mean() + 0.1


def test_basic_pitch_and_oracle():
    bp = registry.load("basic-pitch")
    assert bp.reads_audio and bp.output == "note" and bp.layout.n_bins == 309 and bp.frame_threshold == 0.3
    assert set(bp.identity) == {"kind", "onnx_sha256", "params_sha256"}
    oracle = registry.load("oracle")
    assert oracle.apply is None and oracle.identity == {"kind": "oracle"}


def test_a_new_model_is_one_registration(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", list(registry._REGISTRY))

    @registry.register("toy", r"toy-(\d+)", "toy-<n>")
    def _toy(match, seed):
        n = int(match.group(1))
        return registry.Model(match.string, None, lambda p, x: x[..., :n, :], None, planted.layout(1), {"kind": "toy", "n": n})

    assert registry.load("toy-4").identity == {"kind": "toy", "n": 4}
    assert "toy-<n>" in registry.usages()
