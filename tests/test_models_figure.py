"""``experiments.figures.models``: model families side by side, each on its own scale."""

import json

import numpy as np

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
        assert r["h"] == sorted(r["h"])
    ratios = models_figure.factorial_ratios(results)
    assert set(ratios) == {"planted-b3", "planted-b1"} and all(0 <= v["F"] and 0 <= v["H"] for v in ratios.values())
    assert models_figure.main(["--workdir", str(workdir), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "models_reliance_factorial.png").stat().st_size > 0
