"""``python -m amt_jax.bench NAME [args]``: run one benchmark (module ``amt_jax.bench.NAME``)."""

import importlib
import importlib.util
import sys

NAMES = ("cqt", "model", "importance")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    available = [n for n in NAMES if importlib.util.find_spec(f"amt_jax.bench.{n}")]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in available:
        bad = f"unknown benchmark {argv[0]!r}; " if argv and argv[0] not in ("-h", "--help") else ""
        print(f"usage: python -m amt_jax.bench {{{','.join(available)}}} [--help]\n{bad}".rstrip(), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return int(importlib.import_module(f"amt_jax.bench.{argv[0]}").main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
