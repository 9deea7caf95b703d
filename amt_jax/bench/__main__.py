"""``python -m amt_jax.bench NAME [args]``: run one benchmark (module ``amt_jax.bench.NAME``)."""

import importlib
import sys

NAMES = ("cqt", "model", "importance", "cache", "study")
USAGE = f"usage: python -m amt_jax.bench {{{','.join(NAMES)}}} [--help]"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    if argv[0] not in NAMES:
        print(f"python -m amt_jax.bench: error: unknown benchmark {argv[0]!r}; valid: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"amt_jax.bench.{argv[0]}").main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
