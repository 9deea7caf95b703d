"""What the commands share on the console: one progress bar on stderr fed by a library's per-step
lines (a corpus build's one line per piece), each step also a safe point to stop at on Ctrl-C."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from amt_jax import interrupt


@contextlib.contextmanager
def line_bar(desc: str, *, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """``progress(line)`` for a library that reports one line per step: the bar counts the steps and
    shows the latest line; after each step a pending SIGINT/SIGTERM stops the work (:mod:`amt_jax.interrupt`)."""
    from tqdm.auto import tqdm

    with tqdm(desc=desc, unit="step", file=sys.stderr, disable=not enabled, dynamic_ncols=True) as bar:
        def progress(line: str) -> None:
            bar.set_postfix_str(line if len(line) <= 60 else line[:59] + "…", refresh=False)
            bar.update(1)
            interrupt.check()

        yield progress
