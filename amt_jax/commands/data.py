"""``python -m amt_jax data build NAME [--config CONFIG] --data-dir DIR [--n-pieces N]``: build a tfds dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from amt_jax import validate
from amt_jax.commands import console
from amt_jax.data import DATASETS, build, builder_class
from amt_jax.data.render import RENDERERS, TIMEOUT_S

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = ("Build a dataset (chorales: rendered Bach chorales; maestro: a local MAESTRO v3 download; "
        "real: real recordings from PyPI source archives).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build NAME into --data-dir (replacing an earlier build)")
    b.add_argument("name", help=f"dataset: {', '.join(DATASETS)}")
    b.add_argument("--data-dir", type=Path, required=True, help="tfds data directory to write")
    b.add_argument("--n-pieces", type=int, default=None, help="pieces to build, at least one per split the dataset makes (default: all)")
    b.add_argument("--manual-dir", type=Path, default=None, help="maestro: folder holding maestro-v3.0.0.zip or maestro-v3.0.0/; real (optional): folder holding "
        "libsoni-1.1.0.tar.gz (else pip downloads it into DATA_DIR/downloads/sdists)")
    b.add_argument("--renderer", choices=RENDERERS, default=None, help="chorales: synthesiser of the in-tune config (default tinysoundfont)")
    b.add_argument(
        "--config", default=None, metavar="CONFIG",
        help="chorales: a config (tinysoundfont, fluidsynth; mistuned renders of the same pieces: "
        "detune10, detune25, detune50, vibrato); default: --renderer's",
    )
    b.add_argument("--soundfont", type=Path, default=None, help="chorales: .sf2 file (default: TimGM6mb, or FluidR3_GM for fluidsynth)")
    b.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="SECONDS", help="chorales: wall-clock bound per render (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.name not in DATASETS:
        raise ValueError(f"unknown dataset {args.name!r}; valid datasets: {', '.join(DATASETS)}")
    if args.n_pieces is not None:  # one piece per split the dataset builds
        validate.at_least("--n-pieces", args.n_pieces, len(builder_class(args.name).BUILT_SPLITS))
    if args.timeout is not None:
        validate.positive("--timeout", args.timeout)
    kwargs = {}
    if args.name == "chorales":
        if args.manual_dir is not None:
            raise ValueError("--manual-dir is for maestro; chorales come with music21")
        kwargs = {"soundfont": None if args.soundfont is None else str(args.soundfont), "timeout_s": args.timeout}
        if args.config is not None and args.renderer is not None and args.config != args.renderer:
            raise ValueError(f"give --config or --renderer, not both (--config {args.config} --renderer {args.renderer})")
        name = f"chorales/{args.config or args.renderer or 'tinysoundfont'}"
    elif args.config is not None:
        raise ValueError("--config is for chorales")
    elif args.name == "real":
        if args.manual_dir is not None:
            builder_class("real").check_manual_dir(args.manual_dir)
        kwargs = {"archive_dir": None if args.manual_dir is None else str(args.manual_dir)}
        name = "real"
    else:
        if args.manual_dir is None:
            raise ValueError("maestro needs --manual-dir (the folder holding maestro-v3.0.0.zip or maestro-v3.0.0/)")
        if not args.manual_dir.is_dir():
            raise FileNotFoundError(f"--manual-dir {args.manual_dir} does not exist")
        builder_class("maestro").check_manual_dir(args.manual_dir)  # before the bar: one line when it is wrong
        name = "maestro"
    with console.line_bar(f"building {name}") as progress:
        report = build(name, data_dir=args.data_dir, n_pieces=args.n_pieces,
                       manual_dir=None if name == "real" else args.manual_dir, progress=progress, **kwargs)
    counts = ", ".join(f"{split} {n}" for split, n in report.examples.items())
    print(f"built {report.name} in {report.seconds:.1f} s at {report.path}: {counts}; skipped {len(report.skipped)}")
    for piece, reason in report.skipped:
        print(f"  skipped {piece}: {reason}")
    return 0
