"""experiments.cross_method end to end on the 2-piece train split of a 4-piece corpus (table and stack
parts, smallest settings), and the figures drawn from what it saved: the record holds what the
closing note quotes, the figure script reads the record the script wrote, and a missing result
draws nothing. On PESTO (``--model pesto``): what the script reads from the model's capabilities
(no harmonic stack: skipped with a note; silence in dB, flat, so a noise baseline; what LRP
explains), the gradient and LRP methods of the table on one of its windows, and IG's completeness
from each baseline."""

import json

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from amt_jax import data  # noqa: E402
from amt_jax.explain import baselines  # noqa: E402
from experiments import cross_method  # noqa: E402
from experiments.figures import methods  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("xm")
    data.build("chorales", data_dir=root / "data", n_pieces=4)  # pieces 2 and 3 make the train split
    return root


@pytest.fixture(scope="module")
def result(corpus):
    root = corpus
    out = root / "work" / "cross_method.json"
    argv = ["--data-dir", str(root / "data"), "--data", "chorales:train", "--out", str(out), "--per-piece", "1",
            "--ig-nodes", "8", "--smoothgrad-samples", "2", "--n-draws", "1", "--max-keys", "2", "--topn", "4",
            "--stack-draws", "2", "--n-resamples", "20", "--parts", "table,stack"]  # cascade: tests/test_randomize.py
    assert cross_method.main(argv) == 0
    return out, json.loads(out.read_text())


def test_record_holds_the_table_agreement_and_stack(result):
    out, record = result
    n_pieces = record["inputs"]["n_pieces"]
    assert n_pieces >= 2 and len(record["inputs"]["clusters"]) == n_pieces  # one window per piece
    agreement = record["agreement"]["all"]
    m = len(agreement["methods"])
    assert m >= 5 and np.shape(agreement["rho"]) == (m, m)
    rho = np.array(agreement["rho"], float)
    np.testing.assert_allclose(np.diag(rho)[np.isfinite(np.diag(rho))], 1.0, atol=1e-6)
    assert set(record["stack_importance"]) == {str(float(h)) for h in (0.5, 1, 2, 3, 4, 5, 6, 7)}
    assert all(v["importances_mean"] >= 0 for v in record["stack_importance"].values())  # output_l1 of a change
    assert "cascade" not in record  # parts not asked for are not run
    with np.load(out.with_suffix(".npz")) as arrays:
        assert arrays["lrp_topn_maps"].shape[0] == 88


def test_methods_figures_are_drawn_from_the_saved_record(result, tmp_path):
    out, _ = result
    drawn = methods.draw("methods", methods.CAPTION, str(out.parent), str(tmp_path))
    names = {p.rsplit("/", 1)[-1] for p in drawn.files}
    assert names == {f"methods_{n}.{e}" for n in ("agreement", "harmonic_profile", "stack", "lrp_maps")
                     for e in ("pdf", "png")}
    assert drawn.sources == ["cross_method.json", "cross_method.npz"]
    assert methods.draw("methods", methods.CAPTION, str(tmp_path / "empty"), str(tmp_path)).files == []
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "cross_method.json").write_text(json.dumps({**json.loads(out.read_text()), "run_id": "another run"}))
    (stale / "cross_method.npz").write_bytes(out.with_suffix(".npz").read_bytes())
    with pytest.raises(ValueError, match="different runs"):
        methods.draw("methods", methods.CAPTION, str(stale), str(tmp_path))


def test_the_input_independent_predictor_scores_common_keys_without_audio():
    """The label-randomisation floor: a per-key constant predictor already scores a high F1 on rolls
    that always hold the same keys (a model that memorised nothing reaches it), and a low one when
    each piece holds other keys."""
    same = [{"frames": np.tile(np.eye(88, dtype=np.float32)[:, [40, 44, 47]].sum(1, keepdims=True), (1, 50))} for _ in range(3)]
    assert cross_method.prior_f1(same) > 0.99
    rng = np.random.default_rng(0)
    varied = []
    for i in range(6):
        roll = np.zeros((88, 50), np.float32)
        roll[rng.choice(88, 3, replace=False)] = 1
        varied.append({"frames": roll})
    assert cross_method.prior_f1(varied) < 0.5


def test_cross_method_reads_pesto_through_its_capabilities(corpus):
    from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE
    from amt_jax.explain import crossmethod as cm
    from amt_jax.models import registry
    from amt_jax.sweep.inputs import model_keys

    out = corpus / "work" / "pesto.json"
    argv = ["--data-dir", str(corpus / "data"), "--data", "chorales:train", "--model", "pesto", "--out", str(out),
            "--per-piece", "1", "--parts", "stack"]
    assert cross_method.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["stack_importance"] == {"skipped": "model 'pesto' has no 'stack' capability (no harmonic stack "
                                                     "whose channels I(h) permutes)"}
    inputs = record["inputs"]
    assert inputs["model_spec"] == "pesto" and inputs["model"]["kind"] == "pesto" and inputs["layout"]["n_pitches"] == 84
    silence = inputs["baseline"]["silence"]
    assert silence["spread"] == 0 and -140 < silence["value"] < -130  # float32 eps in dB: flat
    # PESTO's LayerNorm reads no frame-wide level: auto takes the noise spectrum, not the flat silence
    assert inputs["baseline"]["kind"] == "noise" and inputs["baseline"]["frame_offset_sensitivity"] < 1e-3
    assert inputs["baseline"]["spread"] > 1 and "auto:" in inputs["baseline"]["why"]
    assert "key_contrast" in inputs["lrp_explains"]
    # the table's map methods on one window (occlusion and permutation: the script's smoke run)
    model = registry.load("pesto")
    clips = cross_method.balanced_windows("chorales:train", data_dir=corpus / "data", per_piece=1)
    x = np.asarray(model.frontend_on(SAMPLE_RATE, HOP_LENGTH, "test")(clips.audio[:1]))
    targets = model_keys(clips.targets[:1], model.layout, "pesto")
    settings = cm.Settings(methods=("gradient", "grad_x_input", "lrp", "lrp_plus"), max_keys=2, n_null=2,
                           baseline=silence["value"])
    table = cm.score_clips(model, x, targets, key=jax.random.key(0), settings=settings)
    assert set(table.scores) == set(settings.methods) and all(v.shape == (1, len(table.labels)) for v in table.scores.values())
    diag = table.diagnostics["per_clip"][0]
    for name in ("lrp", "lrp_plus"):
        assert np.max(np.abs(diag[f"{name}_residual"])) < 1e-4, name
        assert set(diag[f"{name}_absorbed"]) == set(model.lrp.layers)


def test_a_frame_normalising_model_gets_a_baseline_ig_can_integrate_from(corpus, result):
    """Planted: Basic Pitch reads levels (a frame-wide offset moves its logits: silence is kept, as
    the script's record on its first window says); PESTO normalises each frame (it does not: its
    silence is a flat point of its LayerNorm). On 32 frames of the same PESTO window (it reads each
    frame alone) the straight path from silence makes ≥ 90 % of its change in its first 1 % (where
    no quadrature node of IG looks) and the path from the noise map does not; IG from the noise map
    meets its completeness at 64 nodes, IG from silence misses it by more."""
    import jax.numpy as jnp

    from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE
    from amt_jax.explain import attribution as attr
    from amt_jax.models import registry
    from amt_jax.sweep.inputs import model_keys

    _, basic_pitch_record = result  # Basic Pitch's auto baseline on this corpus's first window
    assert basic_pitch_record["inputs"]["model_spec"] == "basic-pitch" and basic_pitch_record["config"]["baseline"] == "auto"
    kept = basic_pitch_record["inputs"]["baseline"]  # silence because its logits move, not as a fallback
    assert kept["frame_offset_sensitivity"] >= baselines.OFFSET_INVARIANT and "degenerate" not in kept
    clips = cross_method.balanced_windows("chorales:train", data_dir=corpus / "data", per_piece=1)
    model = registry.load("pesto")
    frontend = model.frontend_on(SAMPLE_RATE, HOP_LENGTH, "test")
    x = np.asarray(frontend(clips.audio[:1]))
    n = clips.audio.shape[-1]
    baseline, record = baselines.choose_baseline("auto", model, frontend, x, n, key=jax.random.key(1), level_db=-60.0)
    kinds = {"basic-pitch": basic_pitch_record["inputs"]["baseline"]["kind"], "pesto": record["kind"]}
    assert np.shape(baseline) == x.shape[1:] and record["spread"] > 3  # frames of noise: ≈ 5 dB across bins
    logit_fn = attr.logit_fn_of(model)
    frames = slice(64, 96)
    masks = attr.key_masks(model_keys(clips.targets[:1], model.layout, "pesto")[..., frames], np.array([-1]))
    silence = baselines.choose_baseline("silence", model, frontend, x, n, key=jax.random.key(1), level_db=-60.0)[0]
    early, gaps, xs = {}, {}, x[..., frames]
    for name, b in (("silence", silence), ("noise", baseline)):
        b = np.asarray(attr.broadcast_baseline(b, jnp.asarray(x)))[..., frames]
        o = [float(np.sum(np.asarray(logit_fn(model.params, jnp.asarray(b + a * (xs - b)))) * masks[0]))
             for a in (0.0, 0.01, 1.0)]
        early[name] = abs(o[1] - o[0]) / abs(o[2] - o[0])
        ig = attr.integrated_gradients(logit_fn, model.params, xs, masks, baseline=b[0], n_nodes=64, chunk_size=8)
        gaps[name] = float(np.max(ig.relative_gap))
    assert kinds == {"basic-pitch": "silence", "pesto": "noise"}
    assert early["silence"] > 0.9 and early["noise"] < 0.25, early  # measured 0.997 and 0.025
    assert gaps["noise"] < 0.02 and gaps["silence"] > 5 * gaps["noise"], gaps  # measured 0.0024 and 0.24


def test_pieces_takes_the_first_n_pieces_and_names_a_bad_value(corpus):
    every = cross_method.balanced_windows("chorales:train", data_dir=corpus / "data", per_piece=1)
    n = len(set(every.clusters.tolist()))
    assert n >= 2  # the tiny corpus's train split: the first piece is a strict part of it
    first = cross_method.balanced_windows("chorales:train", data_dir=corpus / "data", per_piece=1, pieces=1)
    assert set(first.clusters.tolist()) == {0}
    np.testing.assert_array_equal(first.audio, every.audio[every.clusters == 0])
    for bad in (0, n + 1):
        with pytest.raises(ValueError, match=rf"pieces must be in 1\.\.{n} .*got {bad}$"):
            cross_method.balanced_windows("chorales:train", data_dir=corpus / "data", per_piece=1, pieces=bad)


def test_pieces_below_one_is_refused_by_the_command_line_naming_it(capsys):
    with pytest.raises(SystemExit) as exc:
        cross_method.parse_args(["--data-dir", "D", "--out", "o.json", "--pieces", "0"])
    assert exc.value.code == 2 and "--pieces must be at least 1, got 0" in capsys.readouterr().err
