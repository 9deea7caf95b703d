"""``experiments.figures.models``: model families side by side, each on its own scale."""

import json

import numpy as np
import pytest

from amt_jax.report import load_results
from experiments.figures import models as models_figure


def test_reliance_is_read_on_each_models_own_scale_and_drawn(tiny_sweep, tmp_path):
    workdir, _ = tiny_sweep
    results = load_results(workdir)
    rows = models_figure.reliance_rows(results)
    assert {"planted-b3", "planted-b1"} <= set(rows)
    for model, r in rows.items():
        whole = json.loads((workdir / "cells" / f"{model}__random_spectral_all.json").read_text())["result"]
        scale = whole.get("piece_mean", whole["importances_mean"])
        h = r["h"][-1]
        rel = json.loads((workdir / "cells" / f"{model}__harmonic_swap_h{h}.json").read_text())["result"]["reliance"]
        np.testing.assert_allclose(r["contrast"][-1][0], rel["contrast"]["mean"] / scale, rtol=1e-9)
        np.testing.assert_allclose(r["own"][-1][0], rel["diagonal"]["mean"] / scale, rtol=1e-9)  # the key's own drop
        assert r["h"] == sorted(r["h"])
    ratios = models_figure.factorial_ratios(results)
    assert set(ratios) == {"planted-b3", "planted-b1"} and all(0 <= v["F"] and 0 <= v["H"] for v in ratios.values())
    assert models_figure.main(["--workdir", str(workdir), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "models_reliance_factorial.png").stat().st_size > 0


def test_variant_cells_are_left_out_and_each_model_is_scaled_by_its_own_whole_axis():
    from amt_jax.report.results import Results

    def est(m, lo, hi):
        return {"mean": m, "crossed_ci_low": lo, "crossed_ci_high": hi}

    cells, finished = [], {}
    for model, whole in (("a", 0.5), ("random:a", 0.01)):
        for cid, kind, params, result in (
                ("rs", "random_spectral", {"band": "all"}, {"importances_mean": 9.0, "piece_mean": whole}),
                ("rs_low", "random_spectral", {"band": [0, 36]}, {"importances_mean": 7.0, "piece_mean": 7.0}),
                ("h2", "harmonic_swap", {"n_harmonics": 2},
                 {"reliance": {"contrast": est(0.1, 0.05, 0.15), "real_minus_sham": est(0.08, None, None)}}),
                ("h8w", "harmonic_swap", {"n_harmonics": 8, "variant": "width1"},
                 {"reliance": {"contrast": est(9.9, 9.0, 10.0), "real_minus_sham": None}})):
            cell = {"id": f"{model}__{cid}", "model": model, "kind": kind, "params": params}
            cells.append(cell)
            finished[cell["id"]] = ({"result": result}, {})
    rows = models_figure.reliance_rows(Results({}, cells, finished))
    assert list(rows) == ["a"]  # random-weights controls are the controls section's
    assert rows["a"]["h"] == [2]  # the width-1 variant is not a point of the profile
    np.testing.assert_allclose(rows["a"]["contrast"][0], (0.2, 0.1, 0.3))
    assert rows["a"]["sham"][0][0] == 0.16 and all(np.isnan(rows["a"]["sham"][0][1:]))
    assert all(np.isnan(rows["a"]["own"][0]))  # a record without the key's own drop: nothing drawn, not 0


def _cross_method_record(model, profile, baseline="silence"):
    return {"inputs": {"model_spec": model, "baseline": {"kind": baseline}, "n_pieces": 3},
            "harmonic_profile": {"gradient": profile, "occlusion": [2 * x if x is not None else None for x in profile]}}


def test_harmonic_profiles_are_each_methods_shape_per_model_and_drawn(tiny_sweep, tmp_path):
    records = [_cross_method_record("basic-pitch", [4.0, -2.0, 1.0, None]),
               _cross_method_record("pesto", [0.0, 0.0, 0.0, 0.0], baseline="noise")]
    profiles = models_figure.harmonic_profiles(records)
    assert list(profiles) == ["basic-pitch", "pesto"] and profiles["pesto"]["baseline"] == "noise"
    for method in ("gradient", "occlusion"):  # divided by its own largest |score|: units cancel
        np.testing.assert_allclose(profiles["basic-pitch"]["methods"][method][:3], [1.0, -0.5, 0.25])
        assert np.isnan(profiles["basic-pitch"]["methods"][method][3])
    assert np.all(np.isnan(profiles["pesto"]["methods"]["gradient"]))  # no scale: nothing to draw, not a flat 0
    with pytest.raises(ValueError, match="two cross-method records of model 'pesto'"):
        models_figure.harmonic_profiles(records + records[1:])
    workdir, _ = tiny_sweep
    paths = []
    for record in records:
        paths.append(tmp_path / f"{record['inputs']['model_spec']}.json")
        paths[-1].write_text(json.dumps(record))
    out = tmp_path / "figs"
    assert models_figure.main(["--workdir", str(workdir), "--out", str(out), "--cross-method", *map(str, paths)]) == 0
    assert (out / "models_harmonic_profile.png").stat().st_size > 0
    assert models_figure.main(["--workdir", str(workdir), "--out", str(out), "--cross-method",
                               str(tmp_path / "missing.json")]) == 2
