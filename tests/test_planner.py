"""The planner: from a pilot's draw × clip matrix, the pieces and draws for a target crossed
half-width — checked against follow-up runs of planted models with the recommended sizes."""

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
    pilot_half = (pilot.crossed_ci_high - pilot.crossed_ci_low) / 2
    plan = stats.plan_sizes(comp, halfwidth=float(pilot_half) / 1.6, clips_per_piece=CLIPS_PER_PIECE)
    assert 40 <= plan["n_pieces"] <= 100, plan  # ≈ 1.6² × 24 pieces
    achieved = [(r.crossed_ci_high - r.crossed_ci_low) / 2 for r in
                (_run(int(plan["n_pieces"]), int(plan["n_draws"]), seed) for seed in (1, 2, 3, 4))]
    assert abs(plan["crossed"] / np.mean(achieved) - 1) < 0.25, (plan, achieved)


def _reliance(n_pieces: int, n_draws: int, seed: int, shared_key: bool):
    """The reliance contrast of the planted model on synthetic pieces: each clip its own key, or one
    key for all clips (``shared_key``: draw-to-draw variance large)."""
    data = planted.synthetic(n_clips=n_pieces * CLIPS_PER_PIECE, bins_per_semitone=B, seed=seed,
                             clips_per_piece=CLIPS_PER_PIECE)
    weights = permutations.key_weights_from_targets(data.targets, per_clip=not shared_key)
    family = permutations.harmonic_swap(layout=planted.layout(B), n_harmonics=4, key_weights=weights)
    res = importance.permutation_importance(
        planted.apply, planted.params(bins_per_semitone=B), data.features, family=family, n_permutations=n_draws,
        key=jax.random.key(seed), metric="key_drop", per_pitch=True, targets=data.targets,
        clusters=np.arange(data.features.shape[0]) // CLIPS_PER_PIECE, chunk_size=n_draws)
    return importance.harmonic_reliance(res, family)["contrast"]


@pytest.mark.parametrize("shared_key", [False, True])
def test_planner_predicts_the_crossed_halfwidth_of_reliance_cells_including_their_monte_carlo_part(shared_key):
    """The reliance contrast's pilot draw × clip matrix (nan where a clip has no eligible key) gives
    components with a Monte Carlo part (never set to 0), and they predict the crossed half-width
    of follow-up runs with other sizes within 25 %."""
    pilot = _reliance(n_pieces=12, n_draws=16, seed=100, shared_key=shared_key)
    comp = stats.variance_components(pilot["draw_clip"], np.arange(24) // CLIPS_PER_PIECE)
    assert comp["between_draws"] + comp["residual"] > 0
    predicted = stats.planned_halfwidth(comp, n_pieces=20, clips_per_piece=CLIPS_PER_PIECE, n_draws=12)["crossed"]
    achieved = [(r["crossed_ci_high"] - r["crossed_ci_low"]) / 2 for r in
                (_reliance(20, 12, seed, shared_key) for seed in (1, 2, 3, 4))]
    assert abs(predicted / np.mean(achieved) - 1) < 0.25, (predicted, achieved)


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
    assert "planted-b3__random_spectral_all" in text and "for a crossed half-width of 0.01" in text
    plan = json.loads(out.read_text())
    cells = {c["cell"]: c for c in plan["cells"]}
    assert set(cells) == {"planted-b3__random_spectral_all", "planted-b3__random_spectral_0-24",
                          "planted-b3__harmonic_swap_h2"}
    for c in cells.values():
        assert c["n_pieces"] == 4 and c["recommended_pieces"] >= 2 and c["predicted_halfwidth"] <= 0.01
        assert c["pilot_halfwidth"] == pytest.approx(c["observed_halfwidth"], rel=0.3)  # the components' and the cell's
        assert c["basis"] == "draw x clip" and c["between_draws"] + c["residual"] > 0


def test_plan_checks_the_monte_carlo_fraction_a_config_claims(pilot_workdir, capsys, tmp_path):
    """``plan --config`` predicts the config's half-widths from the pilot and checks its claim:
    a config with 2 draws cannot keep the Monte Carlo SE a quarter of the piece-level SE, one
    with 4096 can."""
    for draws, verdict in ((2, "does NOT hold"), (4096, "holds for every cell")):
        config = tmp_path / f"claim{draws}.py"
        config.write_text("from amt_jax.sweep import SweepConfig\n\n\ndef get_config():\n"
                          f"    return SweepConfig(name='claim', models=('planted-b3',), n_clips=8, clips_per_piece=2, "
                          f"n_permutations={draws}, claimed_mc_fraction=0.25)\n")
        out = tmp_path / f"plan{draws}.json"
        assert main(["plan", "--workdir", str(pilot_workdir), "--halfwidth", "0.01", "--config", str(config),
                     "--json", str(out)]) == 0
        text = capsys.readouterr().out
        assert f"check of config 'claim' (4 pieces × 2 clips, {draws} draws per cell" in text and verdict in text
        check = json.loads(out.read_text())["check"]
        assert check["claimed_mc_fraction"] == 0.25 and len(check["cells"]) == 3


def test_plan_command_errors_are_one_line(pilot_workdir, capsys, tmp_path):
    assert main(["plan", "--workdir", str(pilot_workdir), "--halfwidth", "-1"]) == 2
    assert "--halfwidth" in capsys.readouterr().err
    assert main(["plan", "--workdir", str(tmp_path), "--halfwidth", "0.1"]) == 2
    assert "holds no sweep" in capsys.readouterr().err


def test_components_of_reliance_and_factorial_cells_come_from_their_draw_clip_matrices():
    """A reliance or factorial cell's components come from its contrast (interaction) draw × clip
    matrix, missing cells included, not from the per-clip means with the Monte Carlo part set to 0."""
    from amt_jax.report import planner
    from amt_jax.sweep.probes import PROBES

    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(8), 2)
    matrix = 0.05 * rng.normal(size=(32, 1)) + 0.02 * rng.normal(size=(32, 16))
    matrix[3, 5] = np.nan
    for kind in ("harmonic_swap", "factorial"):
        arrays = {"clusters": clusters, PROBES[kind].draw_clip_values: matrix}
        comp = planner.components(PROBES[kind], arrays)
        assert comp["basis"] == "draw x clip" and comp["n_draws"] == 32 and comp["n_pieces"] == 8
        assert comp["between_draws"] == pytest.approx(0.05**2, rel=0.6) and comp["residual"] > 0
