"""Stopping a long command at a safe point on SIGINT (Ctrl-C) or SIGTERM (a scheduler's stop).

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be: inside a JAX dispatch,
a garbage-collection callback of XLA (where it is swallowed) or while XLA's threads still run (a
native crash at exit). Under :func:`deferred` the signal only sets a flag; the command's loops call
:func:`check` between cells, training steps, chunks of draws or demo steps, which raises
:class:`Interrupted` there, in plain Python. Results are written atomically, so what was finished
stays and nothing is partial; rerunning the same command resumes. A second signal (of either
kind) kills the process at once (that signal's default action).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`check` at a safe point once SIGINT or SIGTERM arrived; ``exit_status`` is the
    shell's ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_status = 128 + signum

    def __reduce__(self):  # pickled (e.g. from a child process) by its signal number, not its name
        return (Interrupted, (self.signum,))


def requested() -> int | None:
    """The signal number received under :func:`deferred`, or None."""
    return _received[0] if _received else None


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived; call it only where stopping leaves no partial output."""
    if _received:
        raise Interrupted(_received[0])


def _handler(signum, frame) -> None:
    if _received:  # the second signal: stop now, the default way
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)


def settle() -> None:
    """Wait for JAX work already dispatched (so the interpreter does not exit under running XLA threads)."""
    jax = sys.modules.get("jax")
    if jax is not None:
        with contextlib.suppress(Exception):
            jax.effects_barrier()


@contextlib.contextmanager
def deferred():
    """While the block runs, SIGINT and SIGTERM set the flag :func:`check` reads instead of raising
    where the main thread is; the previous handlers come back after it. A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _received.clear()
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _received.clear()
