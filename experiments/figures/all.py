"""Every paper figure from a sweep's saved results, and the index ``figures.md`` (caption, command,
result files per figure): ``python -m experiments.figures.all --workdir DIR [--out OUT]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import experiments.figures as package
from experiments.figures import draw


def figure_modules() -> list[str]:
    """The figure scripts of this package (every module but ``all``)."""
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "all")


def index(drawn, workdir: str) -> str:
    lines = ["# Figures", "", f"Drawn from the saved results in `{workdir}` (nothing recomputed).", ""]
    for d in drawn:
        lines += [f"## {d.name}", "", d.caption, "", f"- command: `{d.command}`",
                  "- files: " + ", ".join(f"`{f}`" for f in d.files),
                  "- results behind it: " + (", ".join(f"`{s}`" for s in d.sources) or "none"), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.figures.all", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from etils import epath

    from amt_jax.io import atomic_write

    drawn = []
    try:
        for name in figure_modules():
            module = importlib.import_module(f"experiments.figures.{name}")
            d = getattr(module, "draw", draw)(name, module.CAPTION, args.workdir, args.out)
            if d.files:
                drawn.append(d)
    except (ValueError, FileNotFoundError) as exc:
        print(f"experiments.figures.all: error: {exc}", file=sys.stderr)
        return 2
    out = epath.Path(args.out) if args.out else epath.Path(args.workdir) / "paper_figures"
    atomic_write(out / "figures.md", index(drawn, args.workdir))
    print(f"{len(drawn)} figures and {out / 'figures.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
