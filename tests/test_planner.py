"""The planner: from a pilot's draw × clip matrix, the pieces and draws for a target piece-level
half-width — checked against follow-up runs of the planted model with the recommended sizes."""

import json

import jax
import numpy as np
import pytest

from amt_jax.__main__ import main
from amt_jax import importance
from amt_jax import permutations
from amt_jax import stats
from amt_jax.models import planted

B = 3
CLIPS_PER_PIECE = 2


def _run(n_pieces: int, n_draws: int, seed: int):
    """The planted model on synthetic pieces (clips of a piece play the piece's keys), the
    whole-axis random-spectral family."""
    data = planted.synthetic(n_clips=n_pieces * CLIPS_PER_PIECE, bins_per_semitone=B, seed=seed,
                             clips_per_piece=CLIPS_PER_PIECE)
    params = planted.params(bins_per_semitone=B)
    family = permutations.random_spectral(n_bins=planted.layout(B).n_bins, band=(0, 72))
    return importance.permutation_importance(
        planted.apply, params, data.features, family=family, n_permutations=n_draws, key=jax.random.key(seed),
        clusters=np.arange(data.features.shape[0]) // CLIPS_PER_PIECE, chunk_size=n_draws,
    )


def test_predicted_halfwidth_matches_follow_up_runs_with_the_recommended_sizes():
    pilot = _run(n_pieces=24, n_draws=32, seed=100)
    comp = stats.variance_components(pilot.draw_clip_importances, pilot.clusters)
    pilot_half = (pilot.clip_ci_high - pilot.clip_ci_low) / 2
    plan = stats.plan_sizes(comp, halfwidth=float(pilot_half) / 1.6, clips_per_piece=CLIPS_PER_PIECE)
    assert 40 <= plan["n_pieces"] <= 100, plan  # ≈ 1.6² × 24 pieces
    achieved = [(r.clip_ci_high - r.clip_ci_low) / 2 for r in
                (_run(int(plan["n_pieces"]), int(plan["n_draws"]), seed) for seed in (1, 2, 3, 4))]
    assert abs(plan["piece"] / np.mean(achieved) - 1) < 0.25, (plan, achieved)


@pytest.fixture(scope="module")
def pilot_workdir(tmp_path_factory):
    from amt_jax import sweep

    workdir = tmp_path_factory.mktemp("plan") / "pilot"
    config = sweep.SweepConfig(name="pilot", models=("planted-b3",), n_clips=8, clips_per_piece=2,
                               families=("random_spectral", "harmonic_reliance"), bands=((0, 24),), harmonics=(2,),
                               n_permutations=8, chunk_size=8, example=False)
    sweep.run_sweep(config, workdir=workdir, progress=False, log=lambda _: None)
    return workdir


def test_plan_command_prints_a_table_and_writes_json(pilot_workdir, capsys, tmp_path):
    out = tmp_path / "plan.json"
    assert main(["plan", "--workdir", str(pilot_workdir), "--halfwidth", "0.01", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "planted-b3__random_spectral_all" in text and "for a piece-level half-width of 0.01" in text
    plan = json.loads(out.read_text())
    cells = {c["cell"]: c for c in plan["cells"]}
    assert set(cells) == {"planted-b3__random_spectral_all", "planted-b3__random_spectral_0-24",
                          "planted-b3__harmonic_swap_h2"}
    for c in cells.values():
        assert c["n_pieces"] == 4 and c["recommended_pieces"] >= 2 and c["predicted_halfwidth"] <= 0.01
        assert c["pilot_halfwidth"] == pytest.approx(c["observed_halfwidth"], rel=1e-6)
    assert cells["planted-b3__harmonic_swap_h2"]["basis"] == "clip means (data only)"


def test_plan_command_errors_are_one_line(pilot_workdir, capsys, tmp_path):
    assert main(["plan", "--workdir", str(pilot_workdir), "--halfwidth", "-1"]) == 2
    assert "--halfwidth" in capsys.readouterr().err
    assert main(["plan", "--workdir", str(tmp_path), "--halfwidth", "0.1"]) == 2
    assert "holds no sweep" in capsys.readouterr().err


def test_data_only_components_count_the_draws_of_a_factorial_cell():
    """A factorial cell keeps one draw × clip matrix per part (F_…, H_…) and no ``importances``:
    its plan is data only, with the draws of its parts."""
    from amt_jax.report import planner
    from amt_jax.sweep.probes import PROBES

    clusters = np.repeat(np.arange(4), 2)
    arrays = {"clusters": clusters, "F_importances": np.zeros((12, 88)), "H_importances": np.zeros((12, 88)),
              PROBES["factorial"].clip_values: np.linspace(0.0, 0.1, 8)}
    comp = planner._components(PROBES["factorial"], arrays)
    assert comp["basis"] == "clip means (data only)" and comp["n_draws"] == 12 and comp["n_pieces"] == 4
    assert comp["between_pieces"] > 0


def test_data_only_components_count_draws_not_clips_of_a_reliance_cell():
    from amt_jax.report import planner
    from amt_jax.sweep.probes import PROBES

    clusters = np.repeat(np.arange(8), 2)
    arrays = {"clusters": clusters, "importances": np.zeros((32, 88)), "clip_importances": np.zeros((16, 88)),
              "draw_clip_importances": np.zeros((32, 16, 88)),
              PROBES["harmonic_swap"].clip_values: np.linspace(0.0, 0.1, 16)}
    comp = planner._components(PROBES["harmonic_swap"], arrays)
    assert comp["basis"] == "clip means (data only)" and comp["n_draws"] == 32 and comp["n_pieces"] == 8
