"""Sweep runner: grid expansion, shards, config registry, atomic files, and the preemption
test — shard 0/2 of the ``tiny`` sweep SIGKILLed midway and resumed gives the same per-draw
results as an uninterrupted run (the whole sweep, split into two shards running concurrently
into one workdir)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from amt_jax import sweep
from amt_jax.io import array_digest, params_digest
from amt_jax.sweep import store
from amt_jax.sweep.inputs import audio_windows
from etils import epath
from amt_jax.__main__ import main
from conftest import REPO, cli_env, sweep_cmd

def n_committed(workdir: Path) -> int:
    return len(list((workdir / "cells").glob("*.json"))) if (workdir / "cells").exists() else 0


def cell_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "cells").glob("*")) if (workdir / "cells").exists() else []


def assert_no_partial_results(workdir: Path) -> None:
    """Every result file parses; every JSON (the commit marker) has its NPZ."""
    for path in cell_files(workdir):
        if path.name.startswith("."):  # a temporary of a killed write: never read
            assert path.name.endswith(".tmp"), path
        elif path.suffix == ".json":
            record = json.loads(path.read_text())
            assert record["cell"]["id"] == path.stem
            assert path.with_suffix(".npz").exists(), f"{path.name} committed without its NPZ"
        else:
            assert path.suffix == ".npz", path
            with np.load(path) as arrays:
                assert len(arrays.files) > 0


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, tiny_sweep, jax_cache):
    """(reference workdir from two concurrent shards, workdir killed midway and resumed, info)."""
    base = tmp_path_factory.mktemp("sweep")
    env = cli_env(jax_cache)
    # the killed and resumed run computes shard 0/2 (19 of the 37 cells): the reference's cells of it
    shard = ("--shard", "0/2")
    n_cells = len(sweep.shard_cells(sweep.expand(sweep.load_config("tiny")), (0, 2)))
    reference, shard_stdout = tiny_sweep

    resumed = base / "resumed"
    proc = subprocess.Popen(sweep_cmd(resumed, *shard), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while n_committed(resumed) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, "sweep ended before a cell finished"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = n_committed(resumed)
    assert_no_partial_results(resumed)
    rerun = subprocess.run(sweep_cmd(resumed, *shard), cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stderr
    return reference, resumed, {"n_cells": n_cells, "done_at_kill": done_at_kill, "rerun_stdout": rerun.stdout,
                                "shard_stdout": shard_stdout}


def test_sigkill_midway_then_resume_equals_uninterrupted(tiny_runs):
    reference, resumed, info = tiny_runs
    assert 0 < info["done_at_kill"] < info["n_cells"], info["done_at_kill"]
    assert f"{info['done_at_kill']} finished earlier" in info["rerun_stdout"]
    # a temporary the kill left is never read; it is removed by a later start once an hour old (a live
    # twin instance of the shard could still be writing it), see test_only_old_temporaries_are_removed
    leftover = [p for p in cell_files(resumed) if p.name.startswith(".")]
    assert all(time.time() - p.stat().st_mtime < sweep.STALE_TEMPORARY_SECONDS for p in leftover)
    ids = [c.id for c in sweep.shard_cells(sweep.expand(sweep.load_config("tiny")), (0, 2))]
    assert all(sweep.is_done(resumed, i) for i in ids)
    for cell_id in ids:
        ref_record, ref_arrays = sweep.load_cell(reference, cell_id)
        record, arrays = sweep.load_cell(resumed, cell_id)
        assert sorted(arrays) == sorted(ref_arrays)
        for name in arrays:
            # same code, same batch shapes, other processes: equal up to float rounding (XLA's CPU
            # thread pool may split reductions differently); integer arrays (group ids) exactly
            if np.issubdtype(arrays[name].dtype, np.floating):
                np.testing.assert_allclose(arrays[name], ref_arrays[name], rtol=1e-6, atol=1e-9, err_msg=f"{cell_id}: {name}")
            else:
                np.testing.assert_array_equal(arrays[name], ref_arrays[name], err_msg=f"{cell_id}: {name}")
        assert record["cell"] == ref_record["cell"] and record["result"].get("key") == ref_record["result"].get("key")
        assert record["seed"] == 0 and record["environment"]["device_kind"] and record["environment"]["versions"]["jax"]


def test_shards_split_cells_into_one_workdir(tiny_runs):
    reference, _, info = tiny_runs
    cells = sweep.expand(sweep.load_config("tiny"))
    per_shard = [sweep.shard_cells(cells, (i, 2)) for i in range(2)]
    assert sorted(c.id for s in per_shard for c in s) == sorted(c.id for c in cells)
    for out, shard in zip(info["shard_stdout"], per_shard):
        assert out.count(" cells computed") == 1 and f"{len(shard)} cells computed" in out
        assert sum(c.id + ":" in out for c in cells) == len(shard)  # one summary line per own cell
    assert all(sweep.is_done(reference, c.id) for c in cells)


def test_rerun_skips_finished_cells(tiny_runs):
    reference, _, _ = tiny_runs
    before = {p.name: p.stat().st_mtime_ns for p in cell_files(reference)}
    statuses = sweep.run_sweep(sweep.load_config("tiny"), workdir=reference, progress=False, log=lambda _: None)
    assert [s.status for s in statuses] == ["skipped"] * len(sweep.expand(sweep.load_config("tiny")))
    assert {p.name: p.stat().st_mtime_ns for p in cell_files(reference)} == before


def test_other_config_in_same_workdir_is_refused(tiny_runs):
    reference, _, _ = tiny_runs
    other = sweep.SweepConfig(name="tiny", models=("planted-b3",), n_permutations=8)
    with pytest.raises(ValueError, match="different config"):
        sweep.run_sweep(other, workdir=reference, progress=False)


def test_a_config_differing_only_in_a_documentation_field_resumes(tmp_path):
    """A claim in a config's docstring (``claimed_mc_fraction``) changes no result: a workdir written
    with the old claim is the same sweep, and its manifest takes the new value; a results field is
    still refused, named."""
    import dataclasses
    import json

    from amt_jax.sweep import store

    config = sweep.SweepConfig(name="doc", models=("planted-b3",), n_permutations=8, claimed_mc_fraction=0.25)
    assert store.check_manifest(tmp_path, config) is False
    store.write_manifest(tmp_path, config, [])
    withdrawn = dataclasses.replace(config, claimed_mc_fraction=None)
    assert store.check_manifest(tmp_path, withdrawn) is True
    assert json.loads((tmp_path / store.MANIFEST).read_text())["config"]["claimed_mc_fraction"] is None
    with pytest.raises(ValueError, match=r"\(n_permutations differ\)"):
        store.check_manifest(tmp_path, dataclasses.replace(withdrawn, n_permutations=16))


def test_a_resumed_sweep_lists_the_cells_its_probe_table_now_expands(tmp_path):
    """A kind added to the probe table since a workdir was written expands into new cells of the same
    config: the rerun lists them in the manifest (the report reads that list), old cells kept."""
    import json

    from amt_jax.sweep import store

    config = sweep.SweepConfig(name="grown", models=("planted-b3",), n_permutations=8)
    cells = sweep.expand(config)
    store.write_manifest(tmp_path, config, cells[:-2])  # as written before two kinds existed
    store.write_manifest(tmp_path, config, cells)
    listed = [c["id"] for c in json.loads((tmp_path / store.MANIFEST).read_text())["cells"]]
    assert listed == [c.id for c in cells]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from amt_jax import io as amt_io

    target = tmp_path / "cells" / "x.npz"
    target.parent.mkdir()
    amt_io.atomic_write(target, b"old")

    def die(self, other):
        raise KeyboardInterrupt  # the process dies between writing the temporary and the rename

    monkeypatch.setattr(type(epath.Path(target)), "replace", die)
    with pytest.raises(KeyboardInterrupt):
        amt_io.atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.npz"]


def test_shards_partition_cells():
    cells = sweep.expand(sweep.load_config("demo"))
    for n in (1, 2, 3, 7, len(cells) + 2):
        parts = [sweep.shard_cells(cells, (i, n)) for i in range(n)]
        ids = [c.id for p in parts for c in p]
        assert sorted(ids) == sorted(c.id for c in cells) and len(set(ids)) == len(cells)
    assert sweep.parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            sweep.parse_shard(bad)


def test_cells_pair_harmonic_with_control_and_have_unique_ids():
    cells = sweep.expand(sweep.load_config("paper"))
    assert len({c.id for c in cells}) == len(cells)
    by_id = {c.id: c for c in cells}
    h4, ctl = by_id["basic-pitch__harmonic_h4"], by_id["basic-pitch__harmonic_control_h4"]
    assert h4.key_tag() == ctl.key_tag()  # same key: draw i of both targets the same fundamental
    assert len({c.key_tag() for c in cells if c.kind != "harmonic_control"}) == len(cells) - len(sweep.load_config("paper").harmonics)


def test_unknown_config_is_one_line_error_listing_valid_ones(tmp_path, capsys):
    assert main(["sweep", "nope", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err
    for name in ("tiny", "demo", "paper"):
        assert name in err


def test_registry_found_from_another_working_directory(tmp_path):
    out = subprocess.run([sys.executable, "-c", "from amt_jax import sweep; print(sweep.load_config('tiny').name)"],
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "tiny", out.stderr


def test_bad_models_and_data_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        sweep.SweepConfig(name="x", models=("planted-b0",))
    with pytest.raises(ValueError, match="reads synthetic features only"):  # synthetic data runs any model, not vice versa
        sweep.load_inputs("planted-b3", sweep.SweepConfig(name="x", models=("planted-b3",), data="chorales:test"))


# --------------------------------------------------------------------------- resume safety, provenance, files


def small_config(**overrides) -> sweep.SweepConfig:
    """A seconds-long planted sweep: harmonic h=2 + control and the microtonal cells, one clip."""
    kwargs = dict(name="small", models=("planted-b3",), n_clips=1, families=("harmonic", "microtonal"), harmonics=(2,),
                  n_permutations=4, n_permutations_semitone=4, chunk_size=4, example=False)
    return sweep.SweepConfig(**{**kwargs, **overrides})


@pytest.fixture(scope="module")
def small_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("small") / "run"
    statuses = sweep.run_sweep(small_config(), workdir=workdir, progress=False, log=lambda _: None)
    assert [s.status for s in statuses] == ["done"] * 4
    return workdir


def test_resume_refuses_cells_computed_under_another_config(small_workdir, monkeypatch):
    (small_workdir / "sweep.json").unlink()  # without the manifest, only the cells can tell
    for changed, what in ((dict(n_permutations=8), "n: recorded 4, now 8"), (dict(seed=1), "seed")):
        with pytest.raises(ValueError, match=f"finished cell planted-b3__harmonic_h2 .*{what}.*fresh --workdir"):
            sweep.run_sweep(small_config(**changed), workdir=small_workdir, progress=False, log=lambda _: None)
    assert not (small_workdir / "sweep.json").exists()  # refused before writing anything
    monkeypatch.setattr(sweep, "load_cell", lambda *a: pytest.fail("a skipped cell's NPZ was read"))
    statuses = sweep.run_sweep(small_config(), workdir=small_workdir, progress=False, log=lambda _: None)
    assert [s.status for s in statuses] == ["skipped"] * 4


def test_resume_refuses_cells_of_other_inputs(small_workdir, tmp_path):
    workdir = tmp_path / "copy"
    (workdir / "cells").mkdir(parents=True)
    for path in (small_workdir / "cells").iterdir():
        (workdir / "cells" / path.name).write_bytes(path.read_bytes())
    edited = workdir / "cells" / "planted-b3__microtonal_one.json"
    record = json.loads(edited.read_text())
    record["inputs"]["fingerprint"] = "0" * 16  # as if the data or the weights had changed
    edited.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="microtonal_one .*inputs fingerprint"):
        sweep.run_sweep(small_config(), workdir=workdir, progress=False, log=lambda _: None)


def test_cell_json_records_provenance_and_is_strict_json(small_workdir):
    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    record = json.loads((small_workdir / "cells" / "planted-b3__harmonic_h2.json").read_text(), parse_constant=no_constants)
    assert record["result"]["clip_ci_low"] is None and record["result"]["clip_ci_high"] is None  # one clip: no CI
    inputs = sweep.load_inputs("planted-b3", small_config())
    assert record["inputs"]["fingerprint"] == inputs.provenance["fingerprint"]
    assert record["inputs"]["model"] == {"kind": "planted", "bins_per_semitone": 3, "seed": 0,
                                         "params_sha256": params_digest(inputs.params)}
    assert record["inputs"]["data"]["features_sha256"] == array_digest(inputs.features)
    env = record["environment"]
    assert "jax_default_matmul_precision" in env and env["device_kind"]
    for pkg in ("librosa", "tensorflow-datasets", "music21", "mir_eval", "onnx", "onnxruntime", "basic-pitch", "jax"):
        assert pkg in env["versions"]
    assert "importance" in sweep.summary_line(sweep.expand(small_config())[0], record)


def test_only_process_zero_writes(tmp_path, monkeypatch):
    import jax

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    workdir = tmp_path / "host1"
    statuses = sweep.run_sweep(small_config(families=("microtonal",)), workdir=workdir, progress=False, log=lambda _: None)
    assert [s.status for s in statuses] == ["done"] * 2
    assert not workdir.exists()


def test_only_old_temporaries_are_removed(tmp_path):
    cell = sweep.expand(small_config())[0]
    (tmp_path / "cells").mkdir()
    fresh, old = (tmp_path / "cells" / f".{cell.id}.npz.{tag}.tmp" for tag in ("fresh", "old"))
    fresh.write_bytes(b"a live twin is writing this")
    old.write_bytes(b"left by a killed run")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old, (two_hours_ago, two_hours_ago))
    removed = store.remove_stale_temporaries(epath.Path(tmp_path), [cell])
    assert [p.name for p in removed] == [old.name]
    assert fresh.exists() and not old.exists()


def test_cell_families_use_the_model_layout():
    """Basic Pitch's layout (F = 309, B = 3, c = 0, 88 keys): fundamentals up to the end of the last
    key's semitone (bin 262), bands on semitone bounds, a band beyond the axis skipped."""
    from amt_jax.models.pretrained import basic_pitch_layout
    from amt_jax.models.registry import Model
    from amt_jax.sweep import compute

    model = Model("basic-pitch", None, None, basic_pitch_layout(), {})
    inputs = sweep.Inputs(model, np.zeros((1, 309, 4), np.float32))
    config = sweep.SweepConfig(name="x", models=("planted-b3",), harmonics=(2,), bands=((1, 13), (120, 130)), example=False)
    by_id = {c.id: c for c in sweep.expand(config)}
    harmonic = compute.harmonic_family(by_id["planted-b3__harmonic_h2"], inputs)
    assert (harmonic.f0_lo, harmonic.f0_hi) == (0, 263)
    band = compute.band_family(by_id["planted-b3__random_spectral_1-13"], inputs)
    assert (band.lo, band.hi) == (2, 38)
    off_axis = by_id["planted-b3__random_spectral_120-130"]
    assert not off_axis.probe.in_axis(off_axis, inputs)


def test_audio_windows_stream_and_choose_as_before(monkeypatch):
    """The streamed selection equals the former one (all windows of the split in memory)."""
    from amt_jax import data
    from amt_jax.transcription import inference

    rng = np.random.default_rng(0)
    examples = []
    for i, n in enumerate((150_000, 60_000, 230_000, 20_000)):
        audio = (0.1 * rng.standard_normal(n)).astype(np.float32)
        audio[: n // 3] *= 0.01  # a quiet start: some windows fall below half the median RMS
        examples.append({"audio": audio, "id": f"piece{i}"})
    monkeypatch.setattr(data, "parse_spec", lambda spec: ("fake", "test"))
    monkeypatch.setattr(data, "load", lambda name, split, data_dir: examples)

    def former(n_clips):
        windows = np.concatenate([inference.window_audio(ex["audio"]) for ex in examples])
        rms = np.sqrt(np.mean(windows**2, axis=1))
        windows = windows[rms >= 0.5 * np.median(rms)]
        return windows[np.round(np.linspace(0, len(windows) - 1, n_clips)).astype(int)]

    for n_clips in (1, 3, 5):
        new = audio_windows("fake:test", data_dir="unused", n_clips=n_clips)
        np.testing.assert_array_equal(new.audio, former(n_clips))
        assert new.targets is None and new.clusters.tolist() == sorted(new.clusters.tolist())
    with pytest.raises(ValueError, match="non-silent model windows"):
        audio_windows("fake:test", data_dir="unused", n_clips=1000)


def test_one_atomic_write_and_environment_helper(tmp_path):
    from amt_jax import io as amt_io

    amt_io.atomic_write(tmp_path / "a.json", "héllo")  # text is written as UTF-8
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "héllo"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    env = amt_io.environment(packages=("jax", "no-such-package"))
    assert env["versions"]["jax"] and env["versions"]["no-such-package"] is None and env["versions"]["python"]
    assert env["device_kind"] and env["platform"] and "jax_default_matmul_precision" in env


def test_audio_windows_per_piece_keep_quiet_pieces_and_avoid_edges(monkeypatch):
    """clips_per_piece: m windows from each of n_clips / m pieces; a quiet piece (another instrument)
    keeps its windows (silence is judged against the piece's own median), the edge windows are avoided."""
    from amt_jax import data
    from amt_jax.transcription import inference

    rng = np.random.default_rng(1)
    examples = []
    for i, (n, gain) in enumerate(((200_000, 0.1), (180_000, 0.005), (220_000, 0.1), (160_000, 0.1))):
        frames = np.zeros((88, n // 256 + 1), bool)
        frames[40 + i, :] = True
        examples.append({"audio": (gain * rng.standard_normal(n)).astype(np.float32), "id": f"piece{i}", "program": i,
                         "frames": frames})
    monkeypatch.setattr(data, "parse_spec", lambda spec: ("fake", "test"))
    monkeypatch.setattr(data, "load", lambda name, split, data_dir: examples)
    clips = audio_windows("fake:test", data_dir="unused", n_clips=8, clips_per_piece=2)
    assert clips.clusters.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and clips.programs.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for (piece, window), audio, target in zip(clips.where, clips.audio, clips.targets):
        i = int(piece[-1])
        n_windows = inference.n_windows(len(examples[i]["audio"]))
        assert 0 < window < n_windows - 1  # no edge window (zero padding)
        np.testing.assert_array_equal(audio, inference.window_audio(examples[i]["audio"])[window])
        assert target[40 + i].all() and target.sum() == target.shape[1]  # the piece's labels, on its frames
    with pytest.raises(ValueError, match="only 4 such pieces"):
        audio_windows("fake:test", data_dir="unused", n_clips=10, clips_per_piece=2)


def test_audio_windows_cluster_the_voices_of_a_piece_together(monkeypatch):
    """``chorales/solo`` holds one example per voice (``piece`` names the piece): the voices of a piece
    are one cluster, so intervals count pieces, not voices."""
    from amt_jax import data

    rng = np.random.default_rng(2)
    examples = [{"audio": (0.1 * rng.standard_normal(120_000)).astype(np.float32), "id": f"bwv{p}/{v}",
                 "piece": f"bwv{p}"} for p in (1, 2) for v in range(3)]
    monkeypatch.setattr(data, "parse_spec", lambda spec: ("fake", "test"))
    monkeypatch.setattr(data, "load", lambda name, split, data_dir: examples)
    clips = audio_windows("fake:test", data_dir="unused", n_clips=6, clips_per_piece=1)
    assert [w[0] for w in clips.where] == [e["id"] for e in examples]
    assert clips.clusters.tolist() == [0, 0, 0, 3, 3, 3]


def test_the_example_cell_shows_the_models_own_outputs_on_the_clip_and_its_chosen_draw(tiny_sweep):
    """The example's outputs (one compiled call on the clip and its draws) are the model's outputs on
    ``x`` and on ``x_perm = x[idx]``, within float tolerance of another batch shape, and the draw
    shown is the one that changes them most."""
    from amt_jax.models import registry

    workdir, _ = tiny_sweep
    found = sorted((workdir / "cells").glob("*__example_h*.npz"))
    assert len(found) == 1
    model_spec = json.loads(found[0].with_suffix(".json").read_text())["cell"]["model"]
    with np.load(found[0]) as saved:
        arrays = dict(saved)
    np.testing.assert_array_equal(arrays["x_perm"], arrays["x"][arrays["idx"]])
    model = registry.load(model_spec)
    for x, y in ((arrays["x"], arrays["y"]), (arrays["x_perm"], arrays["y_perm"])):
        own = np.asarray(model.probabilities(model.params, x[None]))[0]
        np.testing.assert_allclose(y, own, rtol=1e-5, atol=1e-6 * max(np.max(np.abs(own)), 1e-12))
    summary = json.loads(found[0].with_suffix(".json").read_text())["result"]
    assert summary["output_l1"] == np.max(arrays["output_l1"]) == arrays["output_l1"][summary["draw"]]
    np.testing.assert_allclose(summary["output_l1"], np.mean(np.abs(arrays["y_perm"] - arrays["y"])), rtol=1e-5)


def _timed_compute(monkeypatch, events: list, *, after_s: float = 0.3, fail: str | None = None,
                   chunk_s: float = 0.0, on_first_chunk=None):
    """Wrap the runner's per-cell compute: record (event, cell id, time) for its start, its first
    finished chunk, its end and an exception leaving it; sleep ``after_s`` after it (estimator work)
    and ``chunk_s`` after each chunk; raise in cell ``fail``; call ``on_first_chunk(cell_id)``."""
    import threading

    from amt_jax.sweep import runner

    original, lock = runner._compute, threading.Lock()

    def note(what, cell_id):
        with lock:
            events.append((what, cell_id, time.perf_counter()))

    def compute(cell, inputs, config, env, progress, paired_n=None, on_chunk=None):
        note("start", cell.id)
        if cell.id == fail:
            raise RuntimeError(f"planted failure in {cell.id}")
        first = [True]

        def chunk_done(*done_planned):
            time.sleep(chunk_s)
            if first[0]:
                first[0] = False
                note("compiled", cell.id)
                if on_first_chunk is not None:
                    on_first_chunk(cell.id)
            on_chunk(*done_planned)

        try:
            out = original(cell, inputs, config, env, progress, paired_n, chunk_done)
        except BaseException as exc:
            note(type(exc).__name__, cell.id)
            raise
        time.sleep(after_s)
        note("end", cell.id)
        return out

    monkeypatch.setattr(runner, "_compute", compute)


def test_two_cells_at_once_overlap_but_never_compile_together(tmp_path, monkeypatch):
    """With 2 cells at once, a cell starts only once every cell under way has finished its first
    chunk (compiled its programs), cells do overlap, and the lines come in the sweep's order."""
    events, lines = [], []
    _timed_compute(monkeypatch, events)
    config = small_config(families=("harmonic", "microtonal", "random_spectral"), bands=((0, 12),))
    statuses = sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lines.append, cells_at_once=2)
    ids = [s.cell.id for s in statuses]
    assert ids == [c.id for c in sweep.expand(config)] and len(ids) >= 5
    assert [line.split(":")[0] for line in lines] == [f"[{n}/{len(ids)}] {i}" for n, i in enumerate(ids, 1)]
    when = {(what, cell): t for what, cell, t in events}
    for cell in ids:
        start = when[("start", cell)]
        under_way = [c for c in ids if c != cell and when[("start", c)] < start < when[("end", c)]]
        assert len(under_way) <= 1, (cell, under_way)  # two at once at most
        for other in under_way:  # ... and the other one had compiled
            assert when[("compiled", other)] <= start, (cell, other)
    overlapping = [c for c in ids[1:] if any(when[("start", c)] < when[("end", o)] for o in ids[: ids.index(c)])]
    assert overlapping, "no cell started while another was under way"


def test_cells_at_once_give_the_numbers_of_one_at_a_time(tmp_path):
    from amt_jax.bench.side_by_side import compare_cells

    config = small_config(families=("harmonic", "microtonal", "random_spectral"), bands=((0, 12),))
    lines = {}
    for n in (1, 2):
        said = []
        sweep.run_sweep(config, workdir=tmp_path / str(n), progress=False, log=said.append, cells_at_once=n)
        lines[n] = [line.rsplit(" (", 1)[0] for line in said]  # without the seconds
    assert lines[1] == lines[2]
    same = compare_cells(tmp_path / "2", tmp_path / "1")
    assert same["agree"] and same["n_compared"] == len(sweep.expand(config)), same


def test_a_failing_cell_stops_the_sweep_and_keeps_the_finished_ones(tmp_path, monkeypatch):
    import threading

    config = small_config(families=("harmonic", "microtonal", "random_spectral"), bands=((0, 12),))
    ids = [c.id for c in sweep.expand(config)]
    events = []
    _timed_compute(monkeypatch, events, fail=ids[2])
    with pytest.raises(RuntimeError, match=f"planted failure in {ids[2]}"):
        sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lambda _: None, cells_at_once=2)
    assert {ids[0], ids[1]} <= {p.stem for p in (tmp_path / "run" / "cells").glob("*.json")}
    assert not any(what == "start" and cell in ids[4:] for what, cell, _ in events)  # none started after it
    assert_no_partial_results(tmp_path / "run")
    assert not [t for t in threading.enumerate() if t.name.startswith("cell")]  # the pool is gone
    monkeypatch.undo()
    statuses = sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lambda _: None)  # a rerun resumes
    assert [s.status for s in statuses[:2]] == ["skipped", "skipped"] and {s.status for s in statuses[2:]} == {"done"}


def test_cells_at_once_is_validated(tmp_path, capsys):
    with pytest.raises(ValueError, match="cells_at_once must be an integer >= 1, got 0"):
        sweep.run_sweep(small_config(), workdir=tmp_path / "a", progress=False, cells_at_once=0)
    assert main(["sweep", "tiny", "--workdir", str(tmp_path / "b"), "--cells-at-once", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--cells-at-once" in err and "0" in err


def test_a_failing_cell_stops_the_one_under_way_and_its_error_is_raised(tmp_path, monkeypatch):
    """A later cell fails while an earlier one is midway (16 draws in chunks of 2): the earlier one
    stops at its next chunk and is not saved, and the sweep raises the failure, not the stop."""
    config = small_config(families=("harmonic", "microtonal"), n_permutations=16, n_permutations_semitone=8, chunk_size=2)
    ids = [c.id for c in sweep.expand(config)]
    events = []
    _timed_compute(monkeypatch, events, fail=ids[1], chunk_s=0.3)
    with pytest.raises(RuntimeError, match=f"planted failure in {ids[1]}"):
        sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lambda _: None, cells_at_once=2)
    assert ("_Stopped", ids[0]) in [(what, cell) for what, cell, _ in events]  # stopped midway ...
    assert not (tmp_path / "run" / "cells" / f"{ids[0]}.json").exists()  # ... and dropped
    assert_no_partial_results(tmp_path / "run")


def test_an_interrupt_seen_by_a_cell_under_way_stops_the_sweep_as_interrupted(tmp_path, monkeypatch):
    """SIGINT's flag seen in the second cell's first chunk (a worker thread): the sweep raises
    Interrupted (the CLI's exit 130), not the stop of the first cell; a rerun resumes."""
    import signal as signals

    from amt_jax import interrupt

    config = small_config(families=("harmonic", "microtonal"), n_permutations=16, n_permutations_semitone=8, chunk_size=2)
    ids = [c.id for c in sweep.expand(config)]

    def flag(cell_id):
        if cell_id == ids[1]:
            interrupt._received.append(signals.SIGINT)

    events = []
    _timed_compute(monkeypatch, events, chunk_s=0.4, on_first_chunk=flag)
    try:
        with pytest.raises(interrupt.Interrupted) as stopped:
            sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lambda _: None, cells_at_once=2)
    finally:
        interrupt._received.clear()
    assert stopped.value.exit_status == 130
    assert ("_Stopped", ids[0]) not in [(what, cell) for what, cell, _ in events]  # it saw the interrupt itself
    assert not any(what == "start" and cell in ids[2:] for what, cell, _ in events)
    assert_no_partial_results(tmp_path / "run")
    monkeypatch.undo()
    statuses = sweep.run_sweep(config, workdir=tmp_path / "run", progress=False, log=lambda _: None)
    assert all(s.status in ("done", "skipped") for s in statuses) and len(statuses) == len(ids)
