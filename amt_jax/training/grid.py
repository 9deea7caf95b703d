"""A training grid of Basic Pitch variants: bins per semitone B × harmonic stack × seeds, each run
trained with :func:`amt_jax.training.train` and scored on held-out pieces; resumable and sharded
like a sweep.

Layout of a workdir::

    DIR/grid.json               the grid config, its run ids and the data it trains on (same for every shard)
    DIR/runs/<id>/checkpoints/  orbax checkpoints of run <id> (e.g. b3_full_s0), resumed on rerun
    DIR/runs/<id>/metrics.jsonl training metrics
    DIR/runs/<id>/validation.jsonl, stopped.json   with a plateau criterion (``base.plateau``): the
                                validation F1 curve and why training stopped (:mod:`amt_jax.training.convergence`)
    DIR/runs/<id>/eval.json     held-out per-piece scores, the run's parameter count (and its stop record);
                                written last, atomically: the run's commit marker
    DIR/report.json             written by ``grid report`` (:mod:`amt_jax.training.grid_report`)

A rerun skips finished runs (their recorded config is checked first: ValueError if it differs), a
killed run resumes from its last checkpoint, and ``shard=(i, n)`` runs ``i, i + n, ...`` of the
seed-major run order (so a partial grid holds whole seeds of every variant first). A workdir
holding another grid config, or a grid built on other data, is refused.

With ``target_parameters`` set, each variant's widths are solved (:mod:`amt_jax.training.capacity`)
so that every variant has about that many trainable parameters (capacity-matched variants);
``python -m amt_jax grid params CONFIG`` prints the widths and counts.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from etils import epath

from amt_jax import configs
from amt_jax import io as amt_io
from amt_jax import interrupt, validate
from amt_jax.constants import BP_HARMONICS
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax.training import capacity
from amt_jax.training.config import LATER_FIELDS, TrainConfig, results_identity
from amt_jax.training.grid_eval import ONSET_THRESHOLDS
from amt_jax.models.trained import EVAL_FILE

STACKS: dict[str, tuple[float, ...]] = {"full": BP_HARMONICS, "fund": (1,)}  # harmonic stack name -> harmonics
MANIFEST = "grid.json"
RUNS_DIR = "runs"


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """A grid of training runs.

    Attributes:
        name: recorded in every result.
        base: the shared recipe; each run replaces ``base.model``'s ``bins_per_semitone`` and
            ``harmonics`` and ``base.seed``.
        bins_per_semitone: the B axis (CQT bins per semitone).
        stacks: the harmonic-stack axis, names of :data:`STACKS` (``full``: 0.5, 1, 2..7; ``fund``: 1 only).
        seeds: the seed axis (initialisation and batch order; the same seed gives every variant the same batches).
        dataset: tfds dataset (``amt_jax.data`` name) the runs train and are scored on.
        splits: (train, validation, test) split names: train on the first, choose decoding
            thresholds on the second, report per-piece scores on the third.
        validation_pieces: choose the thresholds on this many validation pieces, evenly spaced over
            the split (None: all); every test piece is always scored. A plateau criterion
            (``base.plateau``) scores the same pieces.
        target_parameters: None (default): every variant keeps ``base.model``'s widths; a count:
            each variant's widths solved to that many trainable parameters
            (:func:`~amt_jax.training.capacity.match_widths`: within 2 %, about 0.2 % at Basic
            Pitch's sizes); ``"largest"``: to the largest count among the grid's variants at
            ``base.model``'s widths.
    """

    name: str
    base: TrainConfig
    bins_per_semitone: tuple[int, ...] = (1, 3, 5)
    stacks: tuple[str, ...] = ("full", "fund")
    seeds: tuple[int, ...] = (0, 1, 2)
    dataset: str = "chorales"
    splits: tuple[str, str, str] = ("train", "validation", "test")
    validation_pieces: int | None = None
    target_parameters: int | str | None = None

    def __post_init__(self):
        for field in ("bins_per_semitone", "stacks", "seeds", "splits"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.base, TrainConfig):
            raise ValueError(f"base must be a TrainConfig, got {type(self.base).__name__}")
        for field in ("bins_per_semitone", "stacks", "seeds"):
            values = getattr(self, field)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{field} must be a non-empty tuple of distinct values, got {values!r}")
        for b in self.bins_per_semitone:
            validate.positive_int("bins_per_semitone", b)
        for s in self.stacks:
            validate.one_of("stacks", s, STACKS)
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ValueError(f"seeds must be integers >= 0, got {s!r}")
        if len(self.splits) != 3 or len(set(self.splits)) != 3:
            raise ValueError(f"splits must name 3 distinct splits (train, validation, test), got {self.splits!r}")
        if self.validation_pieces is not None:
            validate.positive_int("validation_pieces", self.validation_pieces)
        t = self.target_parameters
        if t is not None and t != capacity.LARGEST and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"target_parameters must be None, {capacity.LARGEST!r} or a parameter count >= 1, got {t!r}")

    def to_dict(self) -> dict:
        """JSON-ready (tuples as lists; fields added later left out at their default, as
        :meth:`TrainConfig.to_dict` does); inverse of :meth:`from_dict`."""
        d = json.loads(json.dumps({**dataclasses.asdict(self), "base": self.base.to_dict()}))
        return {k: v for k, v in d.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}

    @classmethod
    def from_dict(cls, d: dict) -> GridConfig:
        return cls(**{**d, "base": TrainConfig.from_dict(d["base"])})


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a grid: its axes' values and its full :class:`TrainConfig`."""

    bins_per_semitone: int
    stack: str
    seed: int
    config: TrainConfig

    @property
    def id(self) -> str:
        """File-safe id, e.g. ``b3_full_s0``, ``b1_fund_s2``."""
        return f"b{self.bins_per_semitone}_{self.stack}_s{self.seed}"

    @property
    def variant(self) -> tuple[int, str]:
        """``(B, stack)``: runs of one variant differ only in the seed."""
        return self.bins_per_semitone, self.stack

    def to_dict(self) -> dict:
        return {"id": self.id, "bins_per_semitone": self.bins_per_semitone, "stack": self.stack, "seed": self.seed}


def variant_models(config: GridConfig) -> dict[tuple[int, str], BasicPitchConfig]:
    """``{(B, stack): architecture}`` of every variant: ``base.model`` with that B and harmonic
    stack, its widths solved to ``config.target_parameters`` when set."""
    return dict(_variant_models(config.base.model, config.bins_per_semitone, config.stacks, config.target_parameters))


@functools.lru_cache(maxsize=64)
def _variant_models(model: BasicPitchConfig, bins: tuple[int, ...], stacks: tuple[str, ...],
                    target: int | str | None) -> tuple[tuple[tuple[int, str], BasicPitchConfig], ...]:
    variants = [(b, s) for b in bins for s in stacks]
    models = [dataclasses.replace(model, bins_per_semitone=b, harmonics=STACKS[s]) for b, s in variants]
    if target is not None:
        models = capacity.matched(models, target)
    return tuple(zip(variants, models))


def expand(config: GridConfig) -> list[Run]:
    """All runs, seed-major (seed, then B, then stack), so the first runs of any shard cover every variant."""
    models = variant_models(config)
    runs = []
    for seed in config.seeds:
        for b in config.bins_per_semitone:
            for stack in config.stacks:
                model = models[(b, stack)]
                runs.append(Run(b, stack, seed, dataclasses.replace(config.base, model=model, seed=seed)))
    return runs


def shard_runs(runs: Sequence[Run], shard: tuple[int, int]) -> list[Run]:
    """Runs ``i, i + n, i + 2n, ...`` for ``shard = (i, n)``."""
    i, n = shard
    validate.positive_int("shard count", n)
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    return list(runs[i::n])


def validation_indices(n: int, k: int | None) -> list[int]:
    """``k`` indices evenly spaced over ``range(n)`` (all of them when k is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def run_dir(workdir: epath.PathLike, run: Run) -> epath.Path:
    return epath.Path(workdir) / RUNS_DIR / run.id


def is_done(workdir: epath.PathLike, run: Run) -> bool:
    """A run is finished when its ``eval.json`` (written last) exists."""
    return (run_dir(workdir, run) / EVAL_FILE).exists()


# ------------------------------------------------------------------------------ named configs


def get_grid_config(name: str, overrides: Sequence[str] = ()) -> GridConfig:
    """A grid config (``tiny``, ``small``, ``full``: ``experiments/configs/grid/``, or a ``.py`` file
    whose ``get_config()`` returns a GridConfig; :func:`amt_jax.configs.load`) with ``overrides``
    (``FIELD=VALUE``, e.g. ``seeds=[0]`` or ``base.steps=100``) applied."""
    return configs.load("grid", name, overrides, expected=GridConfig)


# ------------------------------------------------------------------------------ running


def _data_identity(config: GridConfig, splits: Mapping[str, Sequence[dict]], data_dir) -> dict:
    return {"dataset": config.dataset, "data_dir": None if data_dir is None else str(data_dir),
            "pieces": {name: len(splits[name]) for name in config.splits}}


def check_manifest(workdir: epath.Path, config: GridConfig, data: dict) -> None:
    """Refuse (ValueError) a workdir holding another grid config (up to speed-only model fields) or a
    grid built on other pieces."""
    path = workdir / MANIFEST
    if not path.exists():
        return
    old = json.loads(path.read_text())
    if results_identity(old.get("config")) != results_identity(config.to_dict()):
        raise ValueError(f"{workdir} holds grid {old.get('config', {}).get('name')!r} with a different config; "
                         "use another --workdir (or delete this one)")
    if old.get("data", {}).get("pieces") != data["pieces"]:
        raise ValueError(f"{workdir} holds a grid on other data (pieces per split {old['data'].get('pieces')}, "
                         f"now {data['pieces']}); use the same --data-dir or another --workdir")


def check_finished(workdir, run: Run) -> dict:
    """The ``eval.json`` of a finished run, refused (ValueError) if it was trained under another config
    (up to speed-only model fields) or scored with other onset thresholds."""
    record = json.loads((run_dir(workdir, run) / EVAL_FILE).read_text())
    if (results_identity(record.get("config")) != results_identity(run.config.to_dict())
            or record.get("run") != run.to_dict()):
        raise ValueError(f"finished run {run.id} in {workdir} was trained under a different config; "
                         "use another --workdir (or delete the run)")
    if record.get("onset_thresholds") != list(ONSET_THRESHOLDS):
        raise ValueError(f"finished run {run.id} in {workdir} was scored with other onset thresholds "
                         f"({record.get('onset_thresholds')}); delete its {EVAL_FILE} to rescore it")
    return record


def _load_splits(config: GridConfig, data_dir) -> dict[str, Sequence[dict]]:
    from amt_jax import data

    return {name: data.load(config.dataset, name, data_dir=data_dir) for name in config.splits}


def _steps_seconds(directory: epath.Path) -> float:
    """Wall time of all training steps of a run, over every resumption (from ``metrics.jsonl``:
    steps per record / steps_per_second; the first record of each start includes compilation)."""
    from amt_jax.training.loop import METRICS_FILE

    records = [json.loads(line) for line in (directory / METRICS_FILE).read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in records]
    return float(sum((s - p) / r["steps_per_second"] for s, p, r in zip(steps, [0, *steps], records)))


def train_and_evaluate(run: Run, *, directory: epath.Path, splits: Mapping[str, Sequence[dict]], grid: GridConfig,
                       data: dict, log: Callable[[str], None]) -> dict:
    """Train (or resume) ``run`` in ``directory``, score it on held-out pieces and write ``eval.json``
    (atomically, last). Returns the record."""
    from amt_jax.models import registry
    from amt_jax.training import convergence
    from amt_jax.training.grid_eval import heldout_scores
    from amt_jax.training.loop import train

    train_split, validation, test = (splits[name] for name in grid.splits)
    chosen_on = [validation[i] for i in validation_indices(len(validation), grid.validation_pieces)]

    def record_line(record: dict) -> None:
        if "resumed_from" in record:
            log(f"{run.id}: resumed from step {record['resumed_from']}")
        elif "stopped" in record:
            stop = record["stopped"]
            log(f"{run.id}: stopped at step {stop['step']} ({stop['reason']}; best validation frame F1 "
                f"{stop['best_f1']:.3f} at step {stop['best_step']})")
        elif "validation_f1" in record:
            log(f"{run.id}: step {record['step']:>6} validation frame F1 {record['validation_f1']:.3f} "
                f"(best {record['best_f1']:.3f})")
        else:
            log(f"{run.id}: step {record['step']:>6}/{run.config.steps} loss {record['loss']:.4f} "
                f"{record['steps_per_second']:.2f} steps/s")

    start = time.perf_counter()
    state = train(run.config, workdir=os.fspath(directory), examples=train_split, log=record_line,
                  validation=chosen_on if run.config.plateau is not None else None)
    train_s = time.perf_counter() - start
    stopped = convergence.read_stop(os.fspath(directory)) if run.config.plateau is not None else None
    expected = run.config.steps if stopped is None else stopped["step"]
    model = registry.load(f"trained:{directory}")  # the latest checkpoint, as every consumer loads it
    if model.source.step != expected or int(state.step) != expected:
        raise ValueError(f"run {run.id}: checkpoint at step {model.source.step}, expected {expected}")
    scores = heldout_scores(model, validation=chosen_on, test=[test[i] for i in range(len(test))],
                            window_samples=run.config.window_samples, batch_size=run.config.eval_batch_size)
    record = {
        "grid": grid.name, "run": run.to_dict(), "step": int(state.step), **scores,
        "parameters": capacity.parameter_count(model.params["params"]),  # of the trained checkpoint
        **({} if stopped is None else {"stopped": stopped}),
        "validation_pieces": [ex["id"] for ex in chosen_on],
        "model_identity": model.identity, "onset_thresholds": list(ONSET_THRESHOLDS),
        "seconds": {"train": train_s, "evaluate": time.perf_counter() - start - train_s,
                    "all_steps": _steps_seconds(directory)},
        "config": run.config.to_dict(), "data": data, "environment": amt_io.environment(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # eval.json's "scores.model.threshold" is what registry.load('trained:DIR') thresholds at
    record["scores"] = {"model": {"threshold": scores["thresholds"]["frame_threshold"], **scores["mean"]["frame"]}}
    amt_io.atomic_write(directory / EVAL_FILE, amt_io.strict_json(record))
    return record


def run_grid(config: GridConfig, *, workdir: epath.PathLike, data_dir=None, splits: Mapping[str, Sequence[dict]] | None = None,
             shard: tuple[int, int] = (0, 1), log: Callable[[str], None] = print) -> list[tuple[Run, str]]:
    """Train and score this shard's runs of ``config`` into ``workdir`` (resuming; finished runs skipped).

    Args:
        config: the grid.
        workdir: local path (orbax checkpoints need a file system).
        data_dir: tfds data directory holding ``config.dataset`` (when ``splits`` is None).
        splits: split name -> random-access examples (``amt_jax.data`` schema), instead of ``data_dir``.
        shard: ``(i, n)``: runs i, i + n, ... of :func:`expand`'s order.
        log: receives one line per event (run start, training progress, scores).

    Returns:
        ``(run, status)`` per run of the shard, status ``"done"`` or ``"skipped"`` (finished earlier).
    """
    workdir = epath.Path(workdir)
    mine = shard_runs(expand(config), shard)
    splits = _load_splits(config, data_dir) if splits is None else splits
    missing = [name for name in config.splits if name not in splits]
    if missing:
        raise ValueError(f"splits must hold {config.splits}, missing {missing}")
    data = _data_identity(config, splits, data_dir)
    check_manifest(workdir, config, data)
    finished = {run.id: check_finished(workdir, run) for run in mine if is_done(workdir, run)}
    (workdir / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not (workdir / MANIFEST).exists():
        manifest = {"config": config.to_dict(), "runs": [r.to_dict() for r in expand(config)], "data": data}
        amt_io.atomic_write(workdir / MANIFEST, json.dumps(manifest, indent=1))
    statuses = []
    for n, run in enumerate(mine, 1):
        interrupt.check()  # between runs (training itself stops between steps)
        if run.id in finished:
            statuses.append((run, "skipped"))
            log(f"[{n}/{len(mine)}] {run.id}: finished earlier")
            continue
        plateau = run.config.plateau
        log(f"[{n}/{len(mine)}] {run.id}: training " + (f"{run.config.steps} steps" if plateau is None else
            f"until validation frame F1 plateaus (no gain > {plateau.min_delta:g} in {plateau.patience} evaluations, "
            f"one every {plateau.every} steps), at most {run.config.steps} steps")
            + f"; {capacity.count_parameters(run.config.model):,} parameters, widths {capacity.widths(run.config.model)}")
        record = train_and_evaluate(run, directory=run_dir(workdir, run), splits=splits, grid=config, data=data, log=log)
        mean = record["mean"]
        stop = "" if "stopped" not in record else f"stopped at step {record['stopped']['step']}: {record['stopped']['reason']}; "
        log(f"[{n}/{len(mine)}] {run.id}: test frame F1 {mean['frame']['f1']:.3f}, note-onset F1 "
            f"{mean['note_onset']['f1']:.3f}, {record['parameters']:,} parameters ({stop}{len(record['per_piece'])} pieces; "
            f"train {record['seconds']['train']:.0f} s, evaluate {record['seconds']['evaluate']:.0f} s)")
        statuses.append((run, "done"))
    return statuses
