"""The one config system (amt_jax.configs): every registered config of every kind loads, overrides
change fields (nested ones too) and are checked, and the CLI's --config.FIELD=VALUE reach the run."""

from __future__ import annotations

import dataclasses
import re

import pytest

from amt_jax import configs, sweep, training
from amt_jax.__main__ import main, parse
from amt_jax.training import grid

CLASSES = {"sweep": sweep.SweepConfig, "train": training.TrainConfig, "grid": grid.GridConfig}


@pytest.mark.parametrize("kind", configs.KINDS)
def test_every_registered_config_of_every_kind_loads(kind):
    names = configs.registered(kind)
    expected = {"sweep": {"tiny", "demo", "study", "paper"}, "train": {"tiny", "default"},
                "grid": {"tiny", "small", "full", "matched", "converged"}}[kind]
    assert expected <= set(names) and not any(n.startswith("_") for n in names)
    for name in names:
        config = configs.load(kind, name)
        assert isinstance(config, CLASSES[kind]), name
        if kind != "train":
            assert config.name.startswith(name)  # paper_<dataset> when AMT_JAX_PAPER_DATA is set


def test_the_wrappers_load_through_the_loader():
    assert sweep.load_config("tiny") == configs.load("sweep", "tiny")
    assert training.get_config("tiny") == configs.load("train", "tiny")
    assert grid.get_grid_config("small") == configs.load("grid", "small")
    # grids that build on a train config load it through the loader: same recipe, their own changes
    tiny = training.get_config("tiny")
    small = grid.get_grid_config("small")
    assert small.base == dataclasses.replace(tiny, model=small.base.model, steps=300, log_every=10, checkpoint_every=50)
    assert grid.get_grid_config("full").base == training.get_config("default")
    assert training.get_config("tiny", bins_per_semitone=3, steps=10).model.bins_per_semitone == 3


def test_an_override_changes_the_field_and_only_it():
    base = sweep.load_config("tiny")
    config = sweep.load_config("tiny", ["n_permutations=48", "harmonics=[2, 3]", "data=chorales:test"])
    assert config == dataclasses.replace(base, n_permutations=48, harmonics=(2, 3), data="chorales:test")
    assert isinstance(config.harmonics, tuple)  # lists become tuples
    assert configs.load("sweep", "tiny", ["bands=[[0, 12], [12, 24]]"]).bands == ((0, 12), (12, 24))
    assert configs.load("sweep", "tiny", ["mc_fraction=None", "stratified=True"]).stratified is True


def test_a_nested_override_changes_the_nested_field():
    base = training.get_config("tiny")
    config = training.get_config("tiny", overrides=["model.bins_per_semitone=5"])
    assert config == dataclasses.replace(base, model=dataclasses.replace(base.model, bins_per_semitone=5))
    g = grid.get_grid_config("small", ["base.model.n_filters_notes=7", "seeds=[0]"])
    assert g.base.model.n_filters_notes == 7 and g.seeds == (0,) and g.base.steps == 300
    # the plateau criterion and the parameter target are overridable like any field
    m = grid.get_grid_config("matched", ["base.plateau.patience=3", "target_parameters=16782"])
    assert m.base.plateau == training.PlateauStop(every=100, patience=3, min_delta=0.002) and m.target_parameters == 16782
    assert grid.get_grid_config("small", ["target_parameters=largest"]).target_parameters == "largest"


def test_overrides_apply_together_so_their_order_does_not_matter():
    # steps=10 alone breaks tiny's warmup_steps=20 < steps; with warmup_steps=5 it is valid in either order
    for overrides in (["steps=10", "warmup_steps=5"], ["warmup_steps=5", "steps=10"]):
        config = training.get_config("tiny", overrides=overrides)
        assert (config.steps, config.warmup_steps) == (10, 5)


@pytest.mark.parametrize("kind,name,override,match", [
    ("sweep", "tiny", "n_permutation=4", r"'n_permutation=4': SweepConfig has no field 'n_permutation'; valid fields: .*n_permutations"),
    ("train", "tiny", "model.nope=1", r"TrainConfig.model \(a BasicPitchConfig\) has no field 'nope'; valid fields: bins_per_semitone"),
    ("sweep", "tiny", "name.x=1", r"'name.x=1': name is a str, not a dataclass"),
    ("sweep", "tiny", "n_permutations", r"must be FIELD=VALUE .* got 'n_permutations'"),
])
def test_an_unknown_field_is_a_value_error_naming_it(kind, name, override, match):
    with pytest.raises(ValueError, match=match):
        configs.load(kind, name, [override])


@pytest.mark.parametrize("kind,override,match", [
    ("sweep", "n_permutations=0", r"n_permutations must be an integer >= 1, got 0 \(config overrides: n_permutations=0\)"),
    ("sweep", "families=['nope']", r"families must be one of .*, got 'nope'"),
    ("sweep", "models=planted-b3", r"models takes a list \(e.g. models=\['planted-b3'\]\), got 'planted-b3'"),
    ("train", "model.bins_per_semitone=0", r"bins_per_semitone must be an integer >= 1, got 0"),
    ("train", "steps=10", r"warmup_steps must be an integer in \[0, steps=10\), got 20"),
])
def test_a_bad_value_is_the_dataclass_value_error(kind, override, match):
    with pytest.raises(ValueError, match=match):
        configs.load(kind, "tiny", [override])


def test_unknown_names_files_and_returns_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown sweep config 'nope'; valid: demo, demo_real, paper, real, study, tiny"):
        configs.load("sweep", "nope")
    with pytest.raises(ValueError, match=r"kind must be one of \['grid', 'sweep', 'train'\], got 'model'"):
        configs.load("model", "tiny")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        configs.load("sweep", str(tmp_path / "missing.py"))
    not_dataclass = tmp_path / "d.py"
    not_dataclass.write_text("def get_config():\n    return {'name': 'x'}\n")
    with pytest.raises(ValueError, match="get_config\\(\\) must return a dataclass instance, got dict"):
        configs.load("sweep", str(not_dataclass))
    train_file = configs.experiments_dir() / "configs" / "train" / "tiny.py"
    with pytest.raises(ValueError, match="must return an instance of amt_jax.sweep.config.SweepConfig, got TrainConfig"):
        sweep.load_config(str(train_file))
    with pytest.raises(ValueError, match="sequence of FIELD=VALUE strings, got the string"):
        configs.load("sweep", "tiny", "n_permutations=4")


def test_the_experiments_folder_comes_from_the_environment_first(tmp_path, monkeypatch):
    (tmp_path / "configs" / "sweep").mkdir(parents=True)
    (tmp_path / "configs" / "sweep" / "mine.py").write_text(
        "from amt_jax.sweep import SweepConfig\n"
        "def get_config():\n    return SweepConfig(name='mine', models=('planted-b1',))\n")
    (tmp_path / "configs" / "sweep" / "_helper.py").write_text("")
    monkeypatch.setenv("AMT_JAX_EXPERIMENTS", str(tmp_path))
    assert configs.experiments_dir() == tmp_path
    assert configs.registered("sweep") == ("mine",) and configs.registered("train") == ()
    assert sweep.load_config("mine", ["seed=3"]).seed == 3


def test_command_line_overrides_are_split_in_both_forms():
    words, overrides = configs.split_overrides(
        ["sweep", "tiny", "--config.seed=2", "--workdir", "W", "--config.harmonics", "[2, 3]", "--config.noise_lags", "-1"])
    assert words == ["sweep", "tiny", "--workdir", "W"]
    assert overrides == ("seed=2", "harmonics=[2, 3]", "noise_lags=-1")
    with pytest.raises(ValueError, match="--config.seed needs a value"):
        configs.split_overrides(["sweep", "tiny", "--config.seed", "--workdir", "W"])
    args = parse(["train", "--config", "tiny", "--workdir", "W", "--config.steps", "40", "--config.model.bins_per_semitone=3"])
    config = training.get_config(args.config, overrides=args.config_overrides)
    assert (config.steps, config.model.bins_per_semitone) == (40, 3)
    args = parse(["grid", "run", "tiny", "--workdir", "W", "--data-dir", "D", "--config.seeds=[1, 2]"])
    assert grid.get_grid_config(args.config, args.config_overrides).seeds == (1, 2)
    assert parse(["sweep", "tiny", "--workdir", "W"]).config_overrides == ()


@pytest.mark.parametrize("argv,message", [
    (["sweep", "tiny", "--workdir", "{w}", "--config.n_permutation=3"], "SweepConfig has no field 'n_permutation'"),
    (["sweep", "tiny", "--workdir", "{w}", "--config.n_permutations=0"], "n_permutations must be an integer >= 1, got 0"),
    (["sweep", "tiny", "--workdir", "{w}", "--config.seed"], "--config.seed needs a value"),
    (["plan", "--workdir", "{w}", "--halfwidth", "0.1", "--config.seed=1"], "plan loads no config"),
    (["grid", "report", "--workdir", "{w}", "--config.seeds=[0]"], "grid report loads no config"),
])
def test_cli_override_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main([a.format(w=tmp_path / "w") for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "w").exists()


def test_a_cli_override_is_recorded_in_the_sweep_manifest(tmp_path):
    """The tiny config cut to one quick cell (planted B = 1, whole-axis random spectral) by overrides."""
    workdir = tmp_path / "sweep"
    assert main(["sweep", "tiny", "--workdir", str(workdir), "--no-progress", "--config.n_permutations=3",
                 "--config.families", "['random_spectral']", "--config.models=['planted-b1']", "--config.bands=[]",
                 "--config.example=False"]) == 0
    manifest = sweep.read_manifest(workdir)
    assert manifest["config"]["n_permutations"] == 3 and manifest["config"]["models"] == ["planted-b1"]
    assert [c["id"] for c in manifest["cells"]] == ["planted-b1__random_spectral_all"]
    record, arrays = sweep.load_cell(workdir, "planted-b1__random_spectral_all")
    assert record["config"]["n_permutations"] == 3 and record["result"]["n_permutations"] == 3
    assert arrays["importances"].shape[0] == 3


@pytest.mark.parametrize("kind, override, match", [
    ("sweep", "example=false", r"example must be bool, got 'false'"),
    ("sweep", "stratified=1", r"stratified must be bool, got 1"),
    ("sweep", "seed=1.5", r"seed must be int, got 1.5"),
    ("sweep", "n_permutations=True", r"n_permutations must be int, got True"),
    ("sweep", "clips_per_piece=two", r"clips_per_piece must be int or None, got 'two'"),
    ("train", "model.bins_per_semitone=2.5", r"model.bins_per_semitone must be int, got 2.5"),
])
def test_an_override_of_the_wrong_type_is_refused_naming_it(kind, override, match):
    """A string or float where a bool or int is declared would slip through truthiness checks."""
    with pytest.raises(ValueError, match=f"config override '{re.escape(override)}': {match}"):
        configs.load(kind, "tiny", [override])


def test_an_override_of_the_declared_type_is_taken():
    c = configs.load("sweep", "tiny", ["example=False", "mc_fraction=0.25", "clips_per_piece=None"])
    assert c.example is False and c.mc_fraction == 0.25 and c.clips_per_piece is None
    assert configs.load("sweep", "tiny", ["mc_fraction=1"]).mc_fraction == 1  # an int where a float is declared
