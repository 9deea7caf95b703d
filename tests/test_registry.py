"""The model registry: one grammar of specs for the sweep, evaluate and transcribe."""

import dataclasses

import numpy as np
import pytest

from amt_jax.data.synthetic import FRAMES
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
    assert y.shape == x.targets.shape == (2, 48, FRAMES)
    # the planted model reads harmonics: its output is higher where the labels say a key sounds
    assert y[x.targets > 0].mean() > y[x.targets == 0].mean() + 0.1


def test_basic_pitch_and_oracle():
    bp = registry.load("basic-pitch")
    assert bp.reads_audio and bp.output == "note" and bp.layout.n_bins == 309 and bp.frame_threshold == 0.3
    assert set(bp.identity) == {"kind", "onnx_sha256", "params_sha256"}
    oracle = registry.load("oracle")
    assert oracle.apply is None and oracle.identity == {"kind": "oracle"}


USER_MODEL = """
from amt_jax.models import Model, Output
from amt_jax.models import planted


def load():
    return Model("toy", lambda p, x: x[..., :48, :], None, planted.layout(1), {"n": 48}, outputs=(Output(None),),
                 output=None)


def not_a_model():
    return 3
"""


def test_a_users_own_model_loads_from_a_file_or_a_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(USER_MODEL)
    m = registry.load(f"py:{tmp_path}/my_models.py:load")
    assert m.identity == {"kind": "py", "spec": f"py:{tmp_path}/my_models.py:load", "n": 48}
    assert m.spec == f"py:{tmp_path}/my_models.py:load" and registry.kind(m.spec) == "py"
    assert registry.label(m.spec) == "py:my_models:load" and registry.slug(m.spec) == "py-my-models-load"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.load("py:my_models:load").layout == planted.layout(1)
    assert any(u.startswith("py:") for u in registry.usages())


@pytest.mark.parametrize("spec, message", [
    ("py:{d}/missing.py:load", "does not exist"),
    ("py:{d}/my_models.py:nothing", "has no function 'nothing'"),
    ("py:{d}/my_models.py:not_a_model", "must return an amt_jax.models.Model, got int"),
    ("py:no_such_module_here:load", "cannot import module 'no_such_module_here'"),
])
def test_a_bad_user_spec_names_the_spec_and_what_is_wrong(tmp_path, spec, message):
    (tmp_path / "my_models.py").write_text(USER_MODEL)
    spec = spec.format(d=tmp_path)
    with pytest.raises(ValueError, match=f"model '{spec}'.*{message}"):
        registry.load(spec)


def test_capabilities_are_explicit_and_a_missing_one_is_one_line():
    bp, plant = registry.load("basic-pitch"), registry.load("planted-b3")
    assert all(bp.has(c) for c in ("frontend", "logits", "intermediates", "invert", "lrp", "init", "cascade"))
    assert plant.has("logits") and not any(plant.has(c) for c in ("frontend", "intermediates", "invert", "lrp", "init"))
    with pytest.raises(ValueError, match=r"^model 'planted-b3' has no 'lrp' capability \(needed by LRP maps\)$"):
        plant.require("lrp", "LRP maps")
    with pytest.raises(ValueError, match="capability must be one of"):
        plant.has("wings")
    with pytest.raises(ValueError, match="random:planted-b3"):  # the random-weights control needs init
        registry.load("random:planted-b3")
    r = registry.load("random:basic-pitch")
    assert r.identity["kind"] == "random" and r.identity["base"] == bp.identity and r.lrp == bp.lrp


def test_a_user_file_or_function_that_raises_is_one_line_and_not_cached(tmp_path):
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    for _ in range(2):  # the second load says the same: the half-run module is not cached
        with pytest.raises(ValueError, match=r"bad.py:load': running .*bad.py raised RuntimeError: boom"):
            registry.load(f"py:{tmp_path}/bad.py:load")
    (tmp_path / "fails.py").write_text("def load():\n    raise KeyError('weights')\n")
    with pytest.raises(ValueError, match=r"load\(\) raised KeyError"):
        registry.load(f"py:{tmp_path}/fails.py:load")


def test_checking_a_spec_imports_no_family():
    """The CLI checks options before anything slow: the registry's table is plain data."""
    import subprocess
    import sys

    code = ("import sys; from amt_jax.models import registry; registry.check('planted-b3'); "
            "registry.check('random:trained:/x'); print(sorted(m for m in sys.modules if m.startswith('amt_jax.models.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['amt_jax.models.model', 'amt_jax.models.registry']"


def test_capabilities_a_pipeline_needs_are_checked_in_one_line():
    from amt_jax.models import Model, Output

    pitch = Model("pesto-like", lambda p, x: x, None, planted.layout(1), {}, outputs=(Output("pitch", "pitch_distribution", 3),),
                  output="pitch", frontend=lambda a: a, sample_rate=16000)
    with pytest.raises(ValueError, match=r"^model 'pesto-like' reads audio at 16000 Hz, but transcribe gives 22050 Hz$"):
        pitch.require_sample_rate(22050, "transcribe")
    with pytest.raises(ValueError, match=r"no 'note', 'onset' output \(needed by decoding\)"):
        pitch.require_outputs(("note", "onset"), "decoding")
    with pytest.raises(ValueError, match=r"is a pitch_distribution; the sweep needs an output over keys \(multipitch or key_mass\)"):
        pitch.require_keys("the sweep")
    with pytest.raises(ValueError, match=r"^model 'pesto-like' reads audio at 16000 Hz, but the sweep gives 22050 Hz$"):
        pitch.frontend_on(22050, 256, "the sweep")  # no frontend_at: it cannot be read at another rate
    framed = dataclasses.replace(pitch, frontend_at=lambda rate, step_ms: ("at", rate, step_ms))
    assert framed.frontend_on(22050, 256, "the sweep") == ("at", 22050, 1000.0 * 256 / 22050)
    assert registry.title("random:basic-pitch") == "Basic Pitch with random weights (same architecture)"
    assert registry.random_base("random:planted-b3") == "planted-b3" and registry.random_base("planted-b3") is None
    assert not registry.perturbable("oracle") and registry.perturbable("py:x.py:f")


FRAME_WISE_CHECKED = ("pesto", "random:pesto", "basic-pitch")  # the registered families' models, marked or not


@pytest.mark.parametrize("spec", FRAME_WISE_CHECKED)
def test_a_frame_wise_claim_holds(spec):
    """A model whose ``apply`` or ``logits`` is marked frame-wise (``models.model.frame_wise``: the
    engine then computes only some frames) gives the same outputs — every output of ``apply`` and
    the logits — at every other frame when one frame changes; Basic Pitch, whose convolutions span
    frames, does not, and is not marked."""
    import jax
    import jax.numpy as jnp

    from amt_jax.models.model import is_frame_wise

    model = registry.load(spec)
    t = 24
    x = np.asarray(model.frontend(0.1 * np.asarray(jax.random.normal(jax.random.key(0), (1, 43844)))))[..., :t]
    moved = x.copy()
    moved[..., 10] = x[..., 10][..., ::-1]  # frame 10's spectrum reversed
    others = np.arange(t) != 10
    for name, fn in (("apply", model.apply), ("logits", model.logits)):
        ys = [fn(model.params, jnp.asarray(v)) for v in (x, moved)]
        ys = [y if isinstance(y, dict) else {"": y} for y in ys]
        for out in ys[0]:
            y, y_moved = np.asarray(ys[0][out]), np.asarray(ys[1][out])
            spread = float(np.max(np.abs(y_moved[..., others] - y[..., others])))
            own = float(np.max(np.abs(y_moved[..., 10] - y[..., 10])))
            assert own > 1e-6, (name, out)  # the moved frame itself changed (random weights: by little)
            if is_frame_wise(fn):
                assert spread <= 1e-6 * max(float(np.max(np.abs(y))), 1.0), (name, out, spread)
            else:
                assert spread > 1e-2 * own, (name, out, spread, own)  # so the claim would be false: not made
    assert model.frame_wise == spec.endswith("pesto") == is_frame_wise(model.logits)


def test_a_wrapper_of_a_frame_wise_function_is_not_frame_wise_unless_marked():
    """``functools.wraps`` and ``jax.jit`` copy a function's attributes: the mark is by identity, so a
    wrapper (which may mix frames) does not inherit it."""
    import functools

    import jax

    from amt_jax.models.model import frame_wise, is_frame_wise

    def apply(params, x):
        return x

    frame_wise(apply)

    @functools.wraps(apply)
    def smoothed(params, x):
        return apply(params, x).cumsum(-1)  # mixes frames

    assert is_frame_wise(apply) and not is_frame_wise(smoothed) and not is_frame_wise(jax.jit(apply))


@pytest.mark.parametrize("spec", ("basic-pitch", "pesto"))
def test_a_random_weights_control_runs_the_trained_models_compiled_program(spec):
    """``random:<spec>`` differs from ``<spec>`` in its params only, which jitted programs take as an
    argument: a program that takes ``apply`` as a static argument (the engine's chunk) compiles once
    for both, not once per model (the study runs every control beside its model)."""
    import functools

    import jax
    import jax.numpy as jnp

    from amt_jax.estimators.runner import replicated

    @functools.partial(jax.jit, static_argnames="apply_fn")
    def run(params, x, *, apply_fn):
        return jax.tree.leaves(apply_fn(params, x))[0].sum()

    trained, control = registry.load(spec), registry.load(registry.random_control(spec))
    x = jnp.zeros((1, trained.layout.n_bins, 8), jnp.float32)
    # params as the engine passes them (estimators.runner.replicated: put on the device once)
    outputs = [float(run(replicated(None, m.params), x, apply_fn=m.apply)) for m in (trained, control)]
    assert run._cache_size() == 1
    assert outputs[0] != outputs[1]  # other weights, other outputs: the same program ran both
