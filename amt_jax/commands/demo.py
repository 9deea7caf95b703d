"""``python -m amt_jax demo [--out outputs/demo]``: the main job, offline, on a fresh machine — a small study.

1. builds the default corpus (80 rendered Bach chorales; its test split holds 8 pieces) into ``OUT/data``;
2. scores pretrained Basic Pitch on the test split (mir_eval) → ``OUT/evaluation.json``;
3. runs the ``demo`` sweep on 16 windows of the 8 test pieces: the seed families, harmonic
   reliance, the missing-fundamental factorial, semitone pooling, flat noise → ``OUT/sweep``;
4. probes every key with synthetic harmonic tones (does Basic Pitch neglect the extreme keys?) →
   ``OUT/probe_keys``;
5. builds the ``real`` split (five real recordings from the libsoni 1.1.0 sdist, which pip
   fetches) into ``OUT/real_data``, scores Basic Pitch on each recording and checks the reliance
   finding there (``demo_real`` sweep: h = 4 with its sham comb) → ``OUT/evaluation_real.json``,
   ``OUT/sweep_real``; when the sdist cannot be fetched the step says so and the demo goes on;
6. draws the figures and summary tables → ``OUT/sweep/figures``, ``OUT/sweep/summary.md``;
7. prints the findings in plain sentences with their piece-level intervals, and where to look.

Steps 4 and 5 need neither the corpus nor the sweep: they run in a spawned process beside steps
1-3 (:class:`Beside`), on the core the sweep leaves idle while it traces and compiles, and what they
print is shown at their step. Each step is skipped when its outputs exist, so a rerun after an
interruption resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from amt_jax import interrupt, validate
from amt_jax.commands import console
from amt_jax.commands.beside import Beside, portable
from amt_jax.sweep.findings import fmt

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = "The main job: a small study of Basic Pitch on rendered chorales (corpus, evaluation, probes, figures, findings)."

DEMO_PIECES = 80  # chorales built: the test split (every 10th) holds 8 pieces, the piece-level inference needs them
DATASET = "chorales"
MIN_PIECES = 3  # one per split
SWEEP_CONFIG = "demo"
PROBE_TIMBRES = ("1/k", "1/k+chord", "missing:1/k")  # alone, on a C4-E4-G4 chord, harmonics 2..8 only
PROBE_LEVELS = (-40.0, -20.0)
PROBE_REPEATS = 4  # per timbre: intervals over repetitions (phases, noise), conditional on the timbre
N_STEPS = 7
REAL_SWEEP_CONFIG = "demo_real"
PROBE_FILE = "probe_keys_basic-pitch.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output directory (default %(default)s)")
    parser.add_argument("--n-pieces", type=int, default=DEMO_PIECES, help="chorales to build (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _step(n: int, text: str) -> None:
    interrupt.check()  # between steps: each step's outputs are complete or absent
    print(f"\n== step {n}/{N_STEPS}: {text}", flush=True)


def _build_data(data_dir: Path, n_pieces: int, progress: bool) -> None:
    from amt_jax import data

    try:
        source = data.load(DATASET, "test", data_dir=data_dir)
        print(f"corpus already built in {data_dir} ({len(source)} test pieces); skipped")
        return
    except FileNotFoundError:
        pass
    print(f"rendering {n_pieces} chorales offline (TinySoundFont) into {data_dir}", flush=True)
    with console.line_bar(f"building {DATASET}", enabled=progress) as bar:
        report = data.build(DATASET, data_dir=data_dir, n_pieces=n_pieces, progress=bar)
    counts = ", ".join(f"{split} {k}" for split, k in report.examples.items())
    print(f"built {report.name} in {report.seconds:.1f} s: {counts}; skipped {len(report.skipped)}")


def _evaluate(data_dir: Path, out: Path, dataset: str = DATASET) -> None:
    from amt_jax.commands import evaluate as evaluate_command

    if out.exists():
        scores = json.loads(out.read_text())
        f1 = ", ".join(f"{level} F1 {scores[level]['f1']:.3f}" for level in ("frame", "note_onset", "note")
                       if scores.get(level))
        print(f"evaluation already in {out} ({f1}); skipped")
        return
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    evaluate_command.run(parser.parse_args(
        ["--model", "basic-pitch", "--data", f"{dataset}:test", "--data-dir", str(data_dir), "--json", str(out)]
    ))


def _probe_keys(out: Path, progress: bool) -> dict:
    """Probe tones on all 88 keys (1/k envelope alone and on a chord, and the same tones without their
    fundamental; two levels over a −60 dBFS noise floor)."""
    from tqdm.auto import tqdm

    from amt_jax import tones as probe_tones
    from amt_jax.models import registry

    path = out / PROBE_FILE
    if not path.exists():
        model = registry.load("basic-pitch")
        total = len(PROBE_TIMBRES) * len(PROBE_LEVELS) * model.layout.n_pitches * PROBE_REPEATS
        print(f"synthesising and transcribing {total} probe windows ({model.layout.n_pitches} keys × "
              f"{len(PROBE_TIMBRES)} timbres × {len(PROBE_LEVELS)} levels × {PROBE_REPEATS} repetitions)", flush=True)
        with tqdm(total=total, desc="probe tones", unit="window", file=sys.stderr, disable=not progress) as bar:
            def advance(done: int) -> None:
                bar.update(done - bar.n)
                interrupt.check()  # between batches: nothing is written until the end

            result = probe_tones.probe_tones(model, timbres=PROBE_TIMBRES, levels_dbfs=PROBE_LEVELS,
                                             n_repeats=PROBE_REPEATS, seed=0, progress=advance)
        out.mkdir(parents=True, exist_ok=True)
        probe_tones.write_json(result, path)
    else:
        print(f"probe tones already in {path}; skipped")
    return json.loads(path.read_text())


def _real_recordings(out: Path, progress: bool) -> list[str]:
    """Step 5: the ``real`` split built, Basic Pitch scored per recording, and the reliance finding
    checked there; the sentences for step 7 (one saying why, when the split cannot be built)."""
    from amt_jax import data, sweep
    from amt_jax.report import load_results

    data_dir, evaluation, workdir = out / "real_data", out / "evaluation_real.json", out / "sweep_real"
    try:
        data.load("real", "test", data_dir=data_dir)
    except FileNotFoundError:
        print(f"building the real split (libsoni 1.1.0's sdist, fetched by pip) into {data_dir}", flush=True)
        try:
            with console.line_bar("building real", enabled=progress) as bar:
                data.build("real", data_dir=data_dir, progress=bar)
        except Exception as err:  # no index reachable, a changed archive: the rest of the demo stands
            print(f"real recordings skipped: {type(err).__name__}: {err}".splitlines()[0])
            return [f"Real recordings: not checked ({type(err).__name__} while building the real split)."]
    _evaluate(data_dir, evaluation, dataset="real")
    scores = json.loads(evaluation.read_text())
    sweep.run_sweep(sweep.load_config(REAL_SWEEP_CONFIG), workdir=workdir, data_dir=data_dir, progress=progress,
                    log=lambda line: print(line, flush=True))
    per_piece = ", ".join(f"{piece} {s['frame']['f1']:.2f}" for piece, s in scores["per_piece"].items())
    lines = [f"Basic Pitch on {len(scores['per_piece'])} real recordings (pitch tracks or notes as labels): frame F1 "
             f"{scores['frame']['f1']:.3f} (mean over recordings: {per_piece})."]
    return lines + [_real_reliance(load_results(workdir))]


@dataclasses.dataclass
class Said:
    """What steps 4 and 5 did in the other process: their printouts, step 5's sentences for step 7,
    and the exception of the step that failed (None: both ran). The probe tones are read from their
    JSON (written atomically), not sent: the pipe would hold the child until the parent reads."""

    step_4: str = ""
    step_5: str = ""
    real: list[str] = dataclasses.field(default_factory=list)
    failed_step: int | None = None
    error: BaseException | None = None

    def show(self, step: int) -> None:
        """Print step ``step``'s printout; raise the exception if that step failed."""
        print(self.step_4 if step == 4 else self.step_5, end="", flush=True)
        if self.failed_step == step:
            raise self.error


def _model_only_steps(out: Path) -> Said:
    """Steps 4 and 5 (they need Basic Pitch and the real split, not the corpus or the sweep) as the
    CLI runs them, printing nothing (see :class:`Said`)."""
    import contextlib
    import io

    from amt_jax.__main__ import set_compilation_cache, set_matmul_precision

    set_matmul_precision()
    set_compilation_cache()
    said, buffers = Said(), [io.StringIO(), io.StringIO()]
    with interrupt.deferred():  # a Ctrl-C reaches this process too: it stops at its own safe points
        try:
            said.failed_step = 4
            with contextlib.redirect_stdout(buffers[0]), contextlib.redirect_stderr(buffers[0]):
                _probe_keys(out / "probe_keys", progress=False)
            said.failed_step = 5
            with contextlib.redirect_stdout(buffers[1]), contextlib.redirect_stderr(buffers[1]):
                said.real = _real_recordings(out, progress=False)
            said.failed_step = None
        except BaseException as exc:  # noqa: BLE001 (the parent raises it at its step)
            said.error = portable(exc)
    said.step_4, said.step_5 = buffers[0].getvalue(), buffers[1].getvalue()
    return said


def _real_reliance(results) -> str:
    """The reliance sentence of the ``demo_real`` sweep: its h = 4 cell's real − sham comb, read
    against 0 with its crossed interval (or why it cannot be read)."""
    cells = [r for c, r, _ in results.of("basic-pitch", "harmonic_swap")
             if c["params"].get("n_harmonics") == 4 and not c["params"].get("variant")]
    sham = cells[0]["result"]["reliance"].get("real_minus_sham") if cells else None
    if sham is None or sham.get("crossed_ci_low") is None:
        why = "no h = 4 reliance cell" if not cells else "no sham comb fitted" if sham is None else "no interval"
        return f"Real recordings, harmonic reliance h = 4: not checked ({why})."
    holds = sham["crossed_ci_low"] > 0
    return (f"Real recordings, harmonic reliance h = 4: real − sham comb {fmt(sham['mean'])} "
            f"[{fmt(sham['crossed_ci_low'])}, {fmt(sham['crossed_ci_high'])}] (crossed, over the recordings that kept "
            f"a control): the rendered chorales' finding {'holds' if holds else 'is not confirmed'} on real audio "
            f"(five recordings: a wide interval; README: rendered chorales vs real recordings).")


def _architecture_vs_learning(rows: list[dict]) -> list[str]:
    """One sentence comparing the reliance contrast of each model with that of its architecture
    with random weights (``random:<model>``, the control), setting by setting, on each model's own
    scale: the contrast divided by that model's whole-axis shuffle importance (``whole_axis``; the
    raw scale, said so, when a model has none). "Learned" only when the model's contrast is
    positive and the control's interval reaches no further than a tenth of it in the same
    direction on that scale (a control of the opposite sign pushes the other way); the control's
    sign is reported."""
    from amt_jax.models import registry

    swap = {(r["model"], r["setting"]): r for r in rows if r["family"] == "harmonic_swap"}
    out = []
    for model in sorted({m for m, _ in swap if registry.random_base(m) is None}):
        control = registry.random_control(model)
        pairs = [(s, swap[(model, s)], swap[(control, s)]) for m, s in swap if m == model and (control, s) in swap]
        if not pairs:
            continue
        fields = ("difference", "difference_ci_low", "difference_ci_high")
        if any(r[f] is None for _, tr, rr in pairs for r in (tr, rr) for f in fields):
            out.append(f"{model}: the reliance contrast or its random-weights control is undefined (too few pieces).")
            continue
        own = all(r.get("whole_axis") for _, tr, rr in pairs for r in (tr, rr))

        def scaled(r, f):
            return r[f] / r["whole_axis"] if own else r[f]

        sizes = ", ".join(f"{fmt(scaled(rr, 'difference'))} [{fmt(scaled(rr, 'difference_ci_low'))}, "
                          f"{fmt(scaled(rr, 'difference_ci_high'))}] vs {fmt(scaled(tr, 'difference'))} ({s})"
                          for s, tr, rr in pairs)
        # how far the control's interval reaches in the trained model's direction (a control of the
        # opposite sign cannot make the trained model's contrast: the architecture pushes the other way)
        reach = [max(scaled(rr, "difference_ci_high"), 0.0) / scaled(tr, "difference") if tr["difference"]
                 else float("inf") for _, tr, rr in pairs]
        signs = {("negative" if rr["difference_ci_high"] < 0 else "positive" if rr["difference_ci_low"] > 0 else "either")
                 for _, _, rr in pairs}
        effect = all(tr["difference_ci_low"] > 0 for _, tr, _ in pairs)
        scale = ("on each model's own scale (the contrast ÷ that model's whole-axis shuffle importance)" if own else
                 "on the raw output scale (no whole-axis cell for a model, so not on each model's own scale)")
        head = (f"{registry.title(model)} stacks each bin's harmonics into its input, so the same architecture with "
                f"random weights is the control: {scale} its reliance contrast is {sizes} for the trained model "
                f"(sign of the control: {', '.join(sorted(signs))})")
        if not effect:
            out.append(head + "; the trained model shows no reliance contrast in every setting, so there is nothing to attribute.")
        elif max(reach) < 0.1:
            out.append(head + f", its interval within {max(reach):.0%} of the trained model's contrast; "
                       "the trained model's reliance on harmonics is learned, not built in.")
        else:
            out.append(head + f", its interval reaching {max(reach):.0%} of the trained model's contrast; "
                       "part of the effect may be architecture, not learning: compare the sizes.")
    return out


def findings(rows: list[dict], probe: dict, evaluation: dict) -> list[str]:
    """The demo's findings as plain sentences, each with its crossed interval (draws and pieces random)."""
    from amt_jax.sweep.probes import PROBES

    out = [f"Basic Pitch on the 8 test pieces: frame F1 {evaluation['frame']['f1']:.3f}, note-onset F1 "
           f"{evaluation['note_onset']['f1']:.3f} (mir_eval, mean over pieces)."]
    for r in rows:  # the probe table's sentence of each row's kind
        finding = PROBES[r["family"]].finding
        if finding is not None:
            out.append(finding(r))
    d = probe["detected"]
    for s, timbre in enumerate(probe["timbres"]):
        if timbre in probe.get("missing_fundamental", {}):
            row = probe["missing_fundamental"][timbre]["keys_mean"]
            for j, level in enumerate(probe["levels_dbfs"]):
                out.append(f"Missing fundamental ({timbre.split(':', 1)[1]} tones with harmonics 2..8 only, {level:g} dBFS): "
                           f"the absent fundamental's key fires in {row['f0_recall'][j]:.0%} of frames, the octave "
                           f"(harmonic 2's key, where the lowest partial is) in {row['octave_rate'][j]:.0%} (means over "
                           f"{d['n_probed'][s]} keys; a model that needs the fundamental's bin scores 0 %).")
    for context, f in probe.get("key_f1", {}).items():
        threshold = probe["config"]["baselines"]["energy_threshold"][context]
        for j, level in enumerate(probe["levels_dbfs"]):
            weakest = ", ".join(f"MIDI {w['midi']} {w['f1']:.2f} (baselines: energy {w['f1_energy']:.2f}, argmax "
                                f"{w['f1_argmax']:.2f})" for w in f["weakest"][j])
            beats = sum(v is not None and v > 0 for v in f["advantage"]["ci_low"][j])
            worse = sum(v is not None and v < 0 for v in f["advantage"]["ci_high"][j])
            scored = sum(n > 0 for n in f["n"][j])
            out.append(f"Probe tones (1/k, {context}, {level:g} dBFS over a −60 dBFS noise floor), F1 per key with false "
                       f"positives counted: weakest {weakest}; mean F1 below 0.5 on {sum(f['below'][j])} of {scored} keys "
                       f"scored (interval wholly below on {sum(f['flagged'][j])}); above the better baseline per window "
                       f"(fundamental-bin energy >= {threshold:g}, or its argmax) on {beats} keys, below it on {worse}.")
    out += _architecture_vs_learning(rows)
    return out


def run(args: argparse.Namespace) -> int:
    from amt_jax import report, sweep

    validate.at_least("--n-pieces", args.n_pieces, MIN_PIECES)
    start = time.perf_counter()
    out = args.out
    data_dir, evaluation, workdir, probe_dir = out / "data", out / "evaluation.json", out / "sweep", out / "probe_keys"
    out.mkdir(parents=True, exist_ok=True)

    with Beside(_model_only_steps, out) as beside:  # steps 4 and 5 need neither the corpus nor the sweep
        _step(1, f"corpus ({args.n_pieces} Bach chorales rendered offline) -> {data_dir}")
        print("(steps 4 and 5 run beside steps 1-3, in another process; their output follows at their step)", flush=True)
        _build_data(data_dir, args.n_pieces, not args.no_progress)
        _step(2, f"Basic Pitch on {DATASET}:test, scored with mir_eval -> {evaluation}")
        _evaluate(data_dir, evaluation)
        _step(3, f"sweep '{SWEEP_CONFIG}' (seed families, harmonic reliance, factorial, pooling, noise) -> {workdir}")
        config = sweep.load_config(SWEEP_CONFIG)
        statuses = sweep.run_sweep(config, workdir=workdir, data_dir=data_dir, progress=not args.no_progress,
                                   log=lambda line: print(line, flush=True))
        print(f"{sum(s.status == 'done' for s in statuses)} cells computed, {sum(s.status == 'skipped' for s in statuses)} finished earlier")
        _step(4, f"probe tones on every key -> {probe_dir}")
        said = beside.result()
        said.show(4)
        _step(5, f"real recordings: build, Basic Pitch per recording, the reliance finding there -> {out / 'sweep_real'}")
        said.show(5)
    probe, real = json.loads((probe_dir / PROBE_FILE).read_text()), said.real
    _step(6, f"figures and summary -> {workdir / 'figures'}")
    written = report.write_report(workdir)
    print(f"drew {', '.join(written.figures)}" + (f"; not drawn: {', '.join(written.missing)}" if written.missing else ""))
    _step(7, "findings (95 % crossed intervals: draws and pieces random)")
    for line in findings(written.rows, probe, json.loads(evaluation.read_text())) + real:
        print(f"- {line}")
    minutes = (time.perf_counter() - start) / 60
    print(f"\ndone in {minutes:.1f} min. Look at:")
    print(f"  {written.summary_md}   findings and the summary table (crossed, piece-level and Monte Carlo CIs; tests vs controls)")
    print(f"  {workdir / 'figures'}/   {len(written.figures)} figures (.png, .pdf)")
    print(f"  {probe_dir}/   probe tones per key (JSON)")
    print(f"  {evaluation}   Basic Pitch's mir_eval scores on the test split")
    print(f"  {workdir / 'cells'}/   per-cell results (JSON + NPZ: draw × clip importances, pieces)")
    return 0
