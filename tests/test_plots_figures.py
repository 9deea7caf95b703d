"""Every figure of the report, drawn from the ``tiny`` sweep's saved results (and a probe-tone cell
of the planted family for the edge keys), says what it shows (issue 27, item 3): every axis is
labelled with a unit, every image has a colourbar with a unit, titles are words (no cell id, no
probe kind), every drawn interval names its kind, no title claims an interval that is not drawn,
no interval of zero width stands in for a missing one, and key axes are cropped to the keys measured."""

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from amt_jax.report import load_results  # noqa: E402
from amt_jax.report.figures import FIGURES  # noqa: E402
from amt_jax.report.results import Results  # noqa: E402
from amt_jax.sweep.probes import KINDS  # noqa: E402

UNIT = re.compile(r"\([^)]+\)|\[[^\]]+\]")
INTERVAL_KINDS = ("crossed", "piece", "Monte Carlo", "jackknife", "timbres", "repetitions")
ROOT = Path(__file__).resolve().parents[1]
EDGE_CONFIG = '''from amt_jax.sweep import SweepConfig

def get_config():
    return SweepConfig(name="edge", models=("py:tests/planted_family.py:load",), data="synthetic", n_clips=2, seed=0,
                       families=("edge_keys",), harmonics=(2,), n_permutations=8, chunk_size=8, example=False)
'''


def _error_bar_lengths(ax) -> list[float]:
    out = []
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            for lines in container.lines[2]:
                out += [float(np.hypot(*(s[1] - s[0]))) for s in lines.get_segments() if np.all(np.isfinite(s))]
    return out


def _bands(ax) -> int:
    """Interval bands (``fill_between``) with a finite area."""
    n = 0
    for c in ax.collections:
        if isinstance(c, PolyCollection):
            for path in c.get_paths():
                v = path.vertices[np.all(np.isfinite(path.vertices), axis=1)]
                n += len(v) > 2 and np.ptp(v[:, 1]) > 0
    return n


def figure_problems(name: str, fig, cell_ids) -> list[str]:
    """What the figure fails to say (empty: nothing)."""
    colorbars = {im.colorbar.ax: im for ax in fig.axes for im in ax.images if im.colorbar is not None}
    problems = []
    for ax in fig.axes:
        where = f"{name} / {ax.get_title()[:40]!r}"
        if ax in colorbars:
            label = ax.get_ylabel() or ax.get_xlabel()
            if not UNIT.search(label):
                problems.append(f"{where}: colourbar label {label!r} has no unit")
            continue
        if not ax.axison:
            continue
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not UNIT.search(label):
                problems.append(f"{where}: {axis} label {label!r} has no unit")
        problems += [f"{where}: an image without a colourbar" for im in ax.images if im.colorbar is None]
        title = ax.get_title()
        if not title.strip() or any(c in title for c in cell_ids) or any(re.search(rf"\b{k}\b", title) for k in KINDS
                                                                        if "_" in k):
            problems.append(f"{where}: title {title!r} is not words")
        lengths, bands = _error_bar_lengths(ax), _bands(ax)
        legend = ax.get_legend()
        said = " ".join([title, ax.get_ylabel(), *([t.get_text() for t in legend.get_texts()] if legend else [])])
        if (lengths or bands) and not any(k in said for k in INTERVAL_KINDS):
            problems.append(f"{where}: intervals drawn but their kind is not said")
        if "CI" in title and not (any(v > 0 for v in lengths) or bands):
            problems.append(f"{where}: the title claims a CI, none is drawn")
        if any(v == 0 for v in lengths):
            problems.append(f"{where}: an error bar of zero width")
    return problems


@pytest.fixture(scope="module")
def tiny(tiny_sweep):
    return load_results(tiny_sweep[0])


def with_programs(results: Results) -> Results:
    """``results`` with General MIDI programs on the clips: two pieces of program 0, one of 40, one of 41."""
    finished = {}
    for cid, (record, arrays) in results.finished.items():
        if "clusters" in arrays:
            clusters = np.asarray(arrays["clusters"])
            arrays = {**arrays, "programs": np.array([0, 0, 40, 41])[np.unique(clusters, return_inverse=True)[1] % 4]}
        finished[cid] = (record, arrays)
    return Results(results.config, results.cells, finished)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """A sweep of the planted family's probe tones (the ``probe_keys`` cell)."""
    import subprocess

    root = tmp_path_factory.mktemp("edge")
    (root / "edge_config.py").write_text(EDGE_CONFIG)
    out = subprocess.run([sys.executable, "-m", "amt_jax", "sweep", str(root / "edge_config.py"), "--workdir",
                          str(root / "sweep"), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return load_results(root / "sweep")


def test_every_figure_says_what_it_shows(tiny, edge):
    drawn, problems = [], []
    for results in (tiny, with_programs(tiny), edge):
        ids = [c["id"] for c in results.cells]
        for name, make in FIGURES.items():
            for file_name, fig in make(results):
                drawn.append(file_name)
                problems += figure_problems(file_name, fig, ids)
    expected = {"harmonic", "harmonic_reliance", "factorial", "resolution", "registers", "per_instrument", "microtonal",
                "random_spectral", "example", "edge_frequencies"}
    assert expected <= set(drawn), sorted(set(drawn))
    assert not problems, "\n".join(problems)


def test_the_checks_can_fail():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.errorbar([0, 1], [1, 2], yerr=[[0, 0.1], [0, 0.1]], fmt="o")
    ax.imshow(np.ones((2, 2)))
    ax.set_title("planted-b3__harmonic_h4 (95 % CI)")
    ax.set_xlabel("key")
    found = "\n".join(figure_problems("x", fig, ["planted-b3__harmonic_h4"]))
    for what in ("x label 'key' has no unit", "y label '' has no unit", "image without a colourbar", "is not words",
                 "kind is not said", "zero width"):
        assert what in found, found


def test_random_spectral_names_the_whole_axis_in_words(tiny):
    (_, fig), = FIGURES["random_spectral"](tiny)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "whole axis" and "a–l" not in labels and all("semitones" in t for t in labels[1:]), labels


def test_a_single_piece_program_is_a_point_without_an_interval(tiny):
    (_, fig), = FIGURES["per_instrument"](with_programs(tiny))
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("one piece" in t for t in legend), legend
        assert len(_error_bar_lengths(ax)) == 1  # program 0 (two pieces) only


def test_reliance_map_is_cropped_to_the_keys_measured(tiny):
    (_, fig), = FIGURES["harmonic_reliance"](tiny)
    cell, rec, arrays = [c for c in tiny.of(tiny.config["models"][0], "harmonic_swap")][-1]
    measured = np.flatnonzero(np.isfinite(arrays["reliance_map"]).any(0) | np.isfinite(arrays["reliance_map"]).any(1))
    low = rec["result"]["lowest_midi"]
    ax = next(a for a in fig.axes if a.images)
    assert ax.get_xlim() == pytest.approx((low + measured[0] - 0.5, low + measured[-1] + 0.5))


def test_edge_figure_draws_the_probe_tones_with_both_baselines(edge):
    (_, fig), = FIGURES["edge_frequencies"](edge)
    labels = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert {"energy baseline", "argmax baseline"} <= labels, labels
    assert all("F1" in ax.get_ylabel() for ax in fig.axes if ax.axison)
