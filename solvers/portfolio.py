"""A second solver process on the same model, for the machine's second core.

HiGHS's branch-and-bound runs on one core. With `threads` of 2 or more, `solvers.highs` forks the
process once the model is loaded; the fork runs another strategy on its copy (another seed, rounds cut
short at the first plan that breaks a lazy row, HiGHS's primal heuristics on while the first process runs
without them, so one finds plans and the other proves), and the two trade what each finds through a pipe:
plans (the better one becomes the other's incumbent), dual bounds (every round of either is a
relaxation of the same model, so the larger bound holds for both) and lazy rows (added at the other's
next round). Whichever proves the best plan first ends both.

Forking (not spawning) keeps the loaded model, the Pyomo components and the separation routine
without pickling them; it needs a POSIX system, and elsewhere the solve simply runs alone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

STOP_WAIT = 2.0  # seconds the first process waits for the fork's last words before ending it


class Partner:
    """One end of the pipe between the two processes, with the fork's handle on the first's side."""

    def __init__(self, conn: Connection, process: multiprocessing.Process | None = None):
        self.conn = conn
        self.process = process
        self.gone = False  # the other side has closed the pipe (finished, or died)

    @classmethod
    def fork(cls, child_main: Callable[[Partner], None]) -> Partner | None:
        """Start the fork running `child_main` with its own end of the pipe. None where there is no fork,
        inside a daemonic process (a sweep's worker may not have children) or when the system refuses one:
        the solve then runs alone."""
        if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
            return None
        ctx = multiprocessing.get_context("fork")
        mine, theirs = ctx.Pipe(duplex=True)
        sys.stdout.flush()
        sys.stderr.flush()  # else the fork would write out the parent's buffered text a second time
        process = ctx.Process(target=_child, args=(child_main, theirs, mine), daemon=True)
        try:
            process.start()
        except OSError:
            mine.close()
            theirs.close()
            return None
        theirs.close()
        return cls(mine, process)

    def send(self, *message: Any) -> None:
        """Send a message; a closed pipe (the other side has ended) is not an error."""
        if self.gone:
            return
        try:
            self.conn.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.gone = True

    def received(self) -> list[tuple]:
        """Every message waiting, without blocking."""
        out: list[tuple] = []
        try:
            while not self.gone and self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, ConnectionResetError, OSError):
            self.gone = True
        return out

    def finish(self, wait: float = STOP_WAIT) -> list[tuple]:
        """On the first process: ask the fork to stop, collect its last messages for up to `wait` seconds
        (until it says it is done), and end it."""
        self.send("stop")
        messages: list[tuple] = []
        if self.process is not None:
            done = self._wait_for_done(messages, time.monotonic() + wait)
            if not done and self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=STOP_WAIT)
        self.conn.close()
        return messages

    def _wait_for_done(self, messages: list[tuple], until: float) -> bool:
        """Collect messages until the fork says it is done (True) or the clock passes `until` (False). A fork that
        has already ended (so that the "stop" could not be sent) still has its last messages in the pipe."""
        try:
            while self.conn.poll(max(0.0, until - time.monotonic())):
                message = self.conn.recv()
                if message[0] == "done":
                    return True
                messages.append(message)
        except (EOFError, ConnectionResetError, OSError):
            self.gone = True
        return False


def _child(child_main: Callable[[Partner], None], conn: Connection, parents_end: Connection) -> None:
    """The fork's body: Ctrl-C is the first process's to handle; it ends when `child_main` returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parents_end.close()
    partner = Partner(conn)
    try:
        child_main(partner)
    finally:
        partner.send("done")
        conn.close()
        os._exit(0)  # no atexit handlers or buffered output of the first process run twice
