"""Figures and summary tables from a ``tiny`` sweep (run through the CLI): every figure drawn, a
row per importance cell, piece-level tests against controls, effect sizes for divergences,
Benjamini–Hochberg within questions."""

import contextlib
import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402

from amt_jax import report, sweep  # noqa: E402
from amt_jax.__main__ import main  # noqa: E402
from amt_jax import stats  # noqa: E402
from amt_jax.report import summary  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("harmonic", "harmonic_reliance", "factorial", "microtonal", "resolution", "random_spectral",
           "noise_planted-b3", "noise_planted-b1", "registers", "example")


@pytest.fixture(scope="module")
def tiny_workdir(tiny_sweep):
    return tiny_sweep[0]


@pytest.fixture(scope="module")
def figures_out(tiny_workdir):
    """What ``figures`` printed, run once on the tiny workdir (drawing every figure takes ~6 s): the
    tests that read its figures and summaries share it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["figures", "--workdir", str(tiny_workdir)]) == 0
    return out.getvalue()


def test_figures_command_writes_every_figure_and_summary(tiny_workdir, figures_out):
    assert "not drawn" not in figures_out
    for name in FIGURES:
        pdf, png = tiny_workdir / "figures" / f"{name}.pdf", tiny_workdir / "figures" / f"{name}.png"
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000, name
        image = plt.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 300, name
        assert np.std(image[..., :3]) > 0.05, f"{name}.png is (nearly) blank"
    assert not [p for p in (tiny_workdir / "figures").iterdir() if p.name.startswith(".")]


def test_summary_has_a_row_per_importance_cell_with_control_tests(tiny_workdir, figures_out):
    with open(tiny_workdir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    cells = [c for c in sweep.expand(sweep.load_config("tiny")) if c.probe.row]
    assert [r["cell"] for r in rows] == [c.id for c in cells]
    by_cell = {r["cell"]: r for r in rows}
    harmonic = by_cell["planted-b3__harmonic_h4"]
    assert harmonic["control"] == "planted-b3__harmonic_control_h4"
    assert float(harmonic["ci_low"]) <= float(harmonic["mean"]) <= float(harmonic["ci_high"])
    assert float(harmonic["piece_ci_low"]) <= float(harmonic["piece_mean"]) <= float(harmonic["piece_ci_high"])
    assert 0 <= float(harmonic["p"]) <= 1 and float(harmonic["p"]) <= float(harmonic["q"]) <= 1
    # the contrast is crossed (draws and pieces random), draw for draw against the control (4 pieces here)
    _, arrays = sweep.load_cell(tiny_workdir, "planted-b3__harmonic_h4")
    _, control = sweep.load_cell(tiny_workdir, "planted-b3__harmonic_control_h4")
    diff = stats.crossed_estimate(arrays["draw_clip_importances"].astype(float) - control["draw_clip_importances"],
                                  arrays["clusters"])
    assert float(harmonic["p"]) == pytest.approx(diff["p"], rel=1e-6) and harmonic["n_pieces"] == "4"
    assert float(harmonic["difference_ci_low"]) == pytest.approx(diff["crossed_ci_low"], rel=1e-4)
    # conditional on the draws, the piece-level difference is scipy's paired t over the pieces
    ref = scipy.stats.ttest_rel(arrays["clip_importances"], control["clip_importances"])
    assert diff["p_piece"] == pytest.approx(ref.pvalue, rel=1e-6)
    # divergences are not tested against 0; they are an effect size relative to the whole-axis shuffle
    micro = by_cell["planted-b3__microtonal_all"]
    assert micro["p"] == "" and 0 < float(micro["relative"]) < 1
    assert float(by_cell["planted-b3__random_spectral_all"]["relative"]) == 1.0
    # B = 1: a one-bin semitone cannot be shuffled, so microtonal importance is exactly 0
    assert float(by_cell["planted-b1__microtonal_all"]["mean"]) == 0.0
    md = (tiny_workdir / "summary.md").read_text()
    table = md.split("## Table")[1].split("\n## ")[0]
    assert table.count("\n| planted-") == len(rows) and "figures/harmonic.png" in md
    assert "## Findings" in md and "planted-b3, harmonic h=4:" in md and "over 4 pieces" in md
    assert "real − sham comb (inharmonic offsets, same keys and draws):" in md  # the reliance cells' standing control


def test_every_interval_in_the_summary_is_centred_on_the_estimate_reported_with_it(tiny_workdir):
    """One estimand per number: in every row, the Monte Carlo, piece-level and crossed intervals
    are centred on ``mean`` (= ``piece_mean``), and the difference's on ``difference``."""
    from amt_jax.report.results import load_results
    from amt_jax.report.summary import summary_rows

    rows = summary_rows(load_results(tiny_workdir))
    checked = 0
    for row in rows:
        assert row["mean"] == row["piece_mean"], row["cell"]
        for est, lo, hi in (("mean", "ci_low", "ci_high"), ("mean", "piece_ci_low", "piece_ci_high"),
                            ("mean", "crossed_ci_low", "crossed_ci_high"),
                            ("difference", "difference_ci_low", "difference_ci_high")):
            if row[lo] is None or row[est] is None:
                continue
            assert (row[lo] + row[hi]) / 2 == pytest.approx(row[est], rel=1e-6, abs=1e-9), (row["cell"], lo)
            checked += 1
    assert checked >= 3 * len(rows)


def test_register_and_instrument_tables_adjust_within_themselves(tiny_workdir, figures_out):
    from amt_jax.report.results import load_results
    from amt_jax.report.summary import by_register

    rows = by_register(load_results(tiny_workdir))
    cells = {r["cell"] for r in rows}
    assert cells == {"planted-b3__harmonic_swap_h2", "planted-b3__harmonic_swap_h4", "planted-b3__factorial_h4",
                     "planted-b1__harmonic_swap_h2", "planted-b1__harmonic_swap_h4", "planted-b1__factorial_h4"}
    assert all([r["register"] for r in rows if r["cell"] == c] == ["low", "middle", "high"] for c in cells)
    for kind in ("harmonic_swap", "factorial"):  # one BH family per kind
        tested = [r for r in rows if r["p"] is not None and r["kind"] == kind]
        np.testing.assert_allclose([r["q"] for r in tested], stats.benjamini_hochberg(np.array([r["p"] for r in tested])))
    md = (tiny_workdir / "summary.md").read_text()
    assert "## By register" in md and (tiny_workdir / "figures" / "registers.png").exists()


def test_report_skips_figures_of_unfinished_cells(tiny_workdir, tmp_path):
    partial = tmp_path / "partial"
    (partial / "cells").mkdir(parents=True)
    (partial / "sweep.json").write_bytes((tiny_workdir / "sweep.json").read_bytes())
    for cell in sweep.expand(sweep.load_config("tiny")):
        if cell.kind == "random_spectral":
            for path in sweep.cell_paths(tiny_workdir, cell.id):
                (partial / "cells" / path.name).write_bytes(path.read_bytes())
    result = report.write_report(partial)
    assert result.figures == ["random_spectral"] and "harmonic" in result.missing
    assert len(result.rows) == 6  # whole axis and 2 bands, 2 models


def test_summary_warns_when_cells_come_from_different_sources(tiny_workdir, tmp_path):
    mixed = tmp_path / "mixed"
    (mixed / "cells").mkdir(parents=True)
    (mixed / "sweep.json").write_bytes((tiny_workdir / "sweep.json").read_bytes())
    for path in (tiny_workdir / "cells").iterdir():
        (mixed / "cells" / path.name).write_bytes(path.read_bytes())
    assert "Warning" not in report.summary_markdown(*_summary_inputs(mixed))
    edited = mixed / "cells" / "planted-b1__noise_flat_0.json"
    record = json.loads(edited.read_text())
    record["environment"]["versions"]["amt_jax_source"] = "0000000000000000"
    edited.write_text(json.dumps(record))
    assert "computed by 2 versions" in report.summary_markdown(*_summary_inputs(mixed))


def _summary_inputs(workdir):
    results = report.load_results(workdir)
    return report.summary_rows(results), results, [], []


def test_figures_on_a_workdir_without_sweep_is_one_line_error(tmp_path, capsys):
    assert main(["figures", "--workdir", str(tmp_path)]) == 2
    assert "holds no sweep" in capsys.readouterr().err


def test_summary_marks_a_harmonic_cell_without_its_control_as_pending(tiny_workdir, tmp_path):
    partial = tmp_path / "no_control"
    (partial / "cells").mkdir(parents=True)
    (partial / "sweep.json").write_bytes((tiny_workdir / "sweep.json").read_bytes())
    for path in (tiny_workdir / "cells").iterdir():
        if "harmonic_control_h4" not in path.name:
            (partial / "cells" / path.name).write_bytes(path.read_bytes())
    results = report.load_results(partial)
    rows = {r["cell"]: r for r in report.summary_rows(results)}
    pending = rows["planted-b3__harmonic_h4"]
    assert pending["control"] == summary.CONTROL_PENDING and pending["p"] is None and pending["q"] is None
    tested = [r for r in rows.values() if r["p"] is not None]
    assert {r["cell"] for r in tested if r["family"] == "harmonic"} == {"planted-b1__harmonic_h2", "planted-b3__harmonic_h2"}
    assert {r["family"] for r in tested} == {"harmonic", "harmonic_swap", "factorial"}  # contrasts; no divergence
    for question in {r["question"] for r in tested}:  # BH within each question
        mine = [r for r in tested if r["question"] == question]
        np.testing.assert_allclose([r["q"] for r in mine], stats.benjamini_hochberg(np.array([r["p"] for r in mine])))
    for r in rows.values():  # the piece-level CI is reported beside the Monte Carlo CI
        assert r["piece_ci_low"] is not None and r["piece_ci_low"] <= r["piece_ci_high"]
    csv_rows = list(csv.DictReader(report.summary_csv(list(rows.values())).splitlines()))
    assert {"piece_ci_low", "piece_ci_high", "difference_mc_se"} <= set(csv_rows[0])
    assert next(r for r in csv_rows if r["cell"] == "planted-b3__harmonic_h4")["p"] == ""
    md = report.summary_markdown(list(rows.values()), results, [], [])
    assert "control pending" in md and "not tested against 0" in md and "unit of inference is the piece" in md


def test_questions_group_the_benjamini_hochberg_adjustment(tiny_workdir):
    """Declared questions pool their kinds' tests; by default each kind is its own question."""
    results = report.load_results(tiny_workdir)
    default = {r["cell"]: r for r in report.summary_rows(results)}
    assert default["planted-b3__harmonic_h2"]["question"] == "harmonic"  # one family across models and settings
    mine = [r for r in default.values() if r["question"] == "harmonic" and r["p"] is not None]
    assert {r["model"] for r in mine} == {"planted-b1", "planted-b3"}
    np.testing.assert_allclose([r["q"] for r in mine], stats.benjamini_hochberg(np.array([r["p"] for r in mine])))
    pooled = report.Results({**results.config, "questions": [["all harmonic", ["harmonic", "harmonic_control"]]]},
                            results.cells, results.finished)
    rows = {r["cell"]: r for r in report.summary_rows(pooled)}
    assert rows["planted-b3__harmonic_h2"]["question"] == "all harmonic"
    assert rows["planted-b3__harmonic_control_h2"]["question"] == "all harmonic"


def test_paper_figure_scripts_draw_from_saved_results_and_index_them(tiny_workdir, tmp_path):
    """experiments/figures: one script per figure; ``all`` draws them and writes figures.md with the
    caption, the command and the cells behind each."""
    import importlib

    from experiments.figures import all as all_figures

    out = tmp_path / "paper"
    assert all_figures.main(["--workdir", str(tiny_workdir), "--out", str(out)]) == 0
    index = (out / "figures.md").read_text()
    for name, file_name in (("harmonic", "harmonic"), ("harmonic_reliance", "harmonic_reliance"), ("factorial", "factorial"),
                            ("resolution", "resolution"), ("noise", "noise_planted-b1"), ("registers", "registers")):
        assert (out / f"{file_name}.pdf").read_bytes()[:5] == b"%PDF-" and f"## {name}" in index
        assert f"python -m experiments.figures.{name} --workdir" in index
    assert "cells/planted-b3__harmonic_swap_h4.npz" in index and "cells/planted-b3__factorial_h4.json" in index
    script = importlib.import_module("experiments.figures.harmonic_reliance")
    assert script.main.__module__ == "experiments.figures" and "95 % crossed CIs" in script.CAPTION
    assert all_figures.main(["--workdir", str(tmp_path / "nothing")]) == 2


def test_a_reliance_cell_without_an_interval_is_summarised_not_crashed_on():
    """Two pieces with a control leave the crossed interval undefined (saved as null): the summary
    row and its sentence say so instead of failing or printing empty brackets."""
    from amt_jax.report import summary
    from amt_jax.sweep.probes import PROBES

    none = {"mean": 0.35, "ci_low": None, "ci_high": None, "piece_mean": 0.35, "piece_ci_low": None,
            "piece_ci_high": None, "crossed_ci_low": None, "crossed_ci_high": None, "n_pieces": 2, "n_pieces_total": 5,
            "p": None}
    sham = {"mean": 0.30, "crossed_ci_low": 0.10, "crossed_ci_high": 0.49}
    row = PROBES["harmonic_swap"].row_values({"reliance": {"contrast": none, "real_minus_sham": sham}})
    assert row["difference_ci_low"] is None and np.isnan(row["difference_mc_se"])
    row.update({"model": "m", "family": "harmonic_swap", "setting": "h=8", "q": None, "whole_axis": None,
                "relative": None, "difference_mc_se": None})
    (line,) = summary.findings([row])
    assert "untested (no interval)" in line and "(no test)" in line and "[0.1, 0.49]" in line
    assert "[, ]" not in line and "p = ," not in line


def _reliance_result(output_kind):
    """A reliance cell's summary (``compute.reliance``) where the contrast over the co-sounding keys
    (0.30, clearly positive) and the key's own drop against the sham comb (0.02, not) disagree."""
    def est(mean, lo, hi, p):
        return {"mean": mean, "crossed_ci_low": lo, "crossed_ci_high": hi, "ci_low": lo, "ci_high": hi,
                "piece_ci_low": lo, "piece_ci_high": hi, "n_pieces": 6, "n_pieces_total": 6, "p": p, "n": 32,
                "mc_standard_error": 0.01}

    return {"reliance": {"contrast": est(0.30, 0.22, 0.38, 0.001), "real_minus_sham": est(0.02, -0.03, 0.07, 0.4)},
            "output_kind": output_kind}


def test_a_key_mass_reliance_sentence_reads_the_own_key_drop_against_the_sham_comb():
    """By the output kind recorded in the result (one model name for both): a softmax's key mass
    reads own drop − sham drop; sigmoids over keys keep the contrast sentence."""
    from amt_jax.report import questions
    from amt_jax.sweep.probes import PROBES

    probe = PROBES["harmonic_swap"]
    sentences = {}
    for kind in ("key_mass", "multipitch"):
        row = {"model": "planted-b3", "setting": "h=4", "family": "harmonic_swap", "n_draws": 32,
               **probe.row_values(_reliance_result(kind))}
        sentences[kind] = questions.sentence(row)
    own = sentences["key_mass"]
    assert "lowers that key's own output by 0.02 [-0.03, 0.07] (crossed: draws and pieces random) over 6 pieces more " \
           "than moving blocks of a sham comb" in own and "(p = 0.4)" in own
    assert "0.3 [0.22, 0.38]" in own and "is not read" in own and "more than the untouched keys" not in own
    assert sentences["multipitch"] == (
        "Harmonic reliance (h=4, planted-b3): moving a sounding key's harmonics 2..h to mistuned bins lowers that key's "
        "output by 0.3 [0.22, 0.38] (crossed: draws and pieces random) over 6 pieces more than the untouched keys "
        "sounding with it (p = 0.001); and by 0.02 [-0.03, 0.07] (crossed) more than moving blocks of a sham comb at "
        "inharmonic offsets, the same keys and draws.")
    # the summary tests own − sham for a key_mass output (its difference, p and so its BH q), and says
    # the inflated contrast is not tested; a multipitch output keeps the contrast
    rows = {kind: {"model": "planted-b3", "setting": "h=4", "family": "harmonic_swap", "n_draws": 32, "q": 0.5,
                   "difference_mc_se": None, **probe.row_values(_reliance_result(kind))} for kind in ("key_mass", "multipitch")}
    assert rows["key_mass"]["difference"] == 0.02 and rows["key_mass"]["p"] == 0.4
    assert rows["multipitch"]["difference"] == 0.3 and rows["multipitch"]["p"] == 0.001
    mass, multi = summary.findings([rows["key_mass"], rows["multipitch"]])
    assert "not distinguishable from 0: 0.02 [-0.03, 0.07]" in mass and "p = 0.4" in mass
    assert "0.3 [0.22, 0.38], is not tested" in mass
    assert "positive: 0.3 [0.22, 0.38]" in multi and "is not tested" not in multi
    # a result from before the kind was recorded says so instead of passing for a sigmoid's
    old = _reliance_result("multipitch")
    del old["output_kind"]
    row = {"model": "planted-b3", "setting": "h=4", "family": "harmonic_swap", **probe.row_values(old)}
    assert "does not record its output's kind" in questions.sentence(row)
    assert "does not record" not in sentences["multipitch"]


def test_a_reliance_cell_records_the_kind_of_the_output_it_read():
    """``compute.reliance`` takes the kind from the model's ``Output`` records (the same planted
    model, its output declared ``key_mass``, gives the own-key sentence)."""
    import dataclasses

    from amt_jax.models.model import Output
    from amt_jax.sweep import compute
    from amt_jax.sweep.context import Context

    config = sweep.SweepConfig(name="small", models=("planted-b3",), n_clips=2, families=("harmonic_reliance",),
                               harmonics=(2,), n_permutations=4, chunk_size=4, example=False)
    cell = next(c for c in sweep.expand(config) if c.kind == "harmonic_swap")
    inputs = sweep.load_inputs("planted-b3", config)
    as_mass = dataclasses.replace(inputs.model, outputs=(Output(None, kind="key_mass"),))
    for model, kind in ((inputs.model, "multipitch"), (as_mass, "key_mass")):
        result, _ = compute.reliance(cell, dataclasses.replace(inputs, model=model), Context(chunk_size=4))
        assert result["output_kind"] == kind
        row = {"model": "planted-b3", "setting": "h=2", "family": "harmonic_swap", **cell.probe.row_values(result)}
        assert ("a key_mass output" in cell.probe.finding(row)) == (kind == "key_mass")
