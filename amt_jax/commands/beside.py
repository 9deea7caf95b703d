"""Running a function in a spawned process beside this one (:class:`Beside`): the demo runs its
steps 4 and 5 there while it builds, evaluates and sweeps. The function's return value comes back
through a pipe, or its exception (with its traceback as a note; as its text when it does not
survive pickling)."""

from __future__ import annotations

import signal

from amt_jax import interrupt


def portable(exc: BaseException) -> BaseException:
    """``exc`` with its traceback as a note, if it survives pickling; else a RuntimeError of its text."""
    import pickle
    import traceback

    text = "".join(traceback.format_exception(exc)).strip()
    try:
        exc.add_note(f"in the process beside:\n{text}")
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # it does not pickle, or not back
        return RuntimeError(text)


def send_outcome(send, target, args) -> None:
    try:
        send.send(("ok", target(*args)))
    except BaseException as exc:  # noqa: BLE001 (the parent raises it)
        send.send(("error", portable(exc)))


STOP_GRACE_S = 10.0  # how long a stopped Beside process may take to reach a safe point


class Beside:
    """``target(*args)`` in a spawned process while this one goes on (the demo: steps 4 and 5 while
    it builds, evaluates and sweeps, filling the core the sweep leaves idle while it traces and
    compiles each cell's program). :meth:`result` waits for its return value or raises what it
    raised; leaving the ``with`` block on an exception (an interrupt, an error) stops the process
    (results are written atomically, so a rerun resumes). ``target`` must be importable (spawn)."""

    def __init__(self, target, *args):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # not fork: this process holds JAX's threads
        self._receive, self._send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=send_outcome, args=(self._send, target, args), name=f"amt_jax {target.__name__}")
        self._received = False

    def __enter__(self) -> "Beside":
        self._process.start()
        self._send.close()  # the child holds its own copy: a child that dies unheard gives EOFError, not a hang
        return self

    def result(self):
        try:
            kind, value = self._receive.recv()
            self._received = True
        except EOFError:
            self._process.join()
            raise RuntimeError(f"{self._process.name} ended without a result (exit code {self._process.exitcode})") from None
        if kind == "error":
            raise value
        return value

    def __exit__(self, exc_type, *_) -> None:
        if not self._received and self._process.is_alive():  # an exception, or a result never asked for
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt) and interrupt.requested() == signal.SIGINT:
                self._process.join(STOP_GRACE_S)  # Ctrl-C reached its whole process group: let it stop at its own
                # safe point (a SIGTERM may have reached this process alone; a 2nd signal would kill the child)
        if not self._received and self._process.is_alive():
            self._process.terminate()  # SIGTERM: it stops at its next safe point (amt_jax.interrupt) ...
            self._process.join(STOP_GRACE_S)
            if self._process.is_alive():
                self._process.kill()  # ... or now (its results are written atomically)
        self._process.join()
