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

The same pipe also serves solves that only need guarding or a core of their own: `Pending` (one computation in a
fork, ended past a deadline: the windows' 0-1 programs) and `Worker` (one fork answering many small requests: the
neighbourhood search's sub-problems).
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


class Pending:
    """A computation running in a fork of this process, ended if it is not back by a deadline: several of them
    keep several cores busy (model.star_windows), and a native solver that hangs (HiGHS 1.16's presolve did, far
    past its time limit) costs the caller its deadline, not the run. `ready` without waiting, `result` waits."""

    def __init__(self, partner: Partner | None, give_up_at: float, value: Any = None):
        self.partner = partner
        self.give_up_at = give_up_at  # time.monotonic() past which the fork is ended and the answer is None
        self.value = value

    @classmethod
    def start(cls, compute: Callable[[], Any], give_up_after: float) -> Pending:
        """Run `compute()` in a fork, its answer wanted within `give_up_after` seconds (picklable, None for
        none). Where there is no fork it runs here, before this returns."""
        partner = Partner.fork(lambda p: p.send("value", compute()))
        if partner is None:
            return cls(None, 0.0, compute())
        return cls(partner, time.monotonic() + give_up_after)

    def ready(self) -> bool:
        """The answer is in, or the fork is past its deadline (then `result` ends it at once)."""
        if self.partner is None:
            return True
        try:
            return self.partner.conn.poll() or time.monotonic() >= self.give_up_at
        except (EOFError, ConnectionResetError, OSError):
            return True

    def result(self) -> Any:
        """The fork's answer (None if it died or hung), waiting for it up to its deadline; the fork is ended."""
        partner, self.partner = self.partner, None
        if partner is None:
            return self.value
        try:
            if partner.conn.poll(max(0.0, self.give_up_at - time.monotonic())):
                message = partner.conn.recv()
                self.value = message[1] if message[0] == "value" else None
        except (EOFError, ConnectionResetError, OSError):  # the fork died
            self.value = None
        finally:
            partner.finish(wait=STOP_WAIT if self.value is not None else 0.0)
        return self.value

    def cancel(self) -> None:
        """End the fork without its answer (Ctrl-C, or the caller stops)."""
        partner, self.partner = self.partner, None
        if partner is not None:
            partner.finish(wait=0.0)

    @property
    def connection(self):
        """What `multiprocessing.connection.wait` waits on (None once answered)."""
        return None if self.partner is None else self.partner.conn


class Worker:
    """A fork that answers requests one at a time with `handle(request)`, for many short solves: a fork each
    would cost 8-20 ms (the first process's pages copied on write); through one fork the 62 sub-problems of
    Georgia k = 8's neighbourhood search took about 3% longer than in the process.
    A request not answered in time ends the fork (HiGHS 1.16's presolve hung far past its time limit); the next
    request starts another. Where there is no fork (or in a fork of the owner) requests run in this process."""

    def __init__(self, handle: Callable[[Any], Any]):
        self.handle = handle
        self.partner: Partner | None = None
        self.owner = os.getpid()

    def call(self, request: Any, give_up_after: float, stop: Callable[[], bool] = lambda: False) -> Any:
        """`handle(request)`'s answer, or None if the fork died or is not back within `give_up_after` seconds.
        `stop()` is asked while waiting; when it says so the fork is ended and KeyboardInterrupt raised."""
        if os.getpid() != self.owner:  # a fork of the owner (its copy of the pipe is the owner's)
            return self.handle(request)
        if self.partner is None:
            self.partner = Partner.fork(self._serve)
            if self.partner is None:
                return self.handle(request)
        self.partner.send("request", request)
        give_up_at = time.monotonic() + give_up_after
        try:
            while True:
                if stop():
                    self.close(wait=0.0)
                    raise KeyboardInterrupt
                left = give_up_at - time.monotonic()
                if left <= 0:
                    break
                if self.partner.conn.poll(min(0.2, left)):
                    message = self.partner.conn.recv()
                    if message[0] == "value":
                        return message[1]
                    break  # "done": the fork ended (an error in `handle`)
        except (EOFError, ConnectionResetError, OSError):
            pass  # the fork died
        self.close(wait=0.0)
        return None

    def close(self, wait: float = STOP_WAIT) -> None:
        """End the fork (it stops between requests; one still working is ended after `wait` seconds)."""
        partner, self.partner = self.partner, None
        if partner is not None:
            partner.finish(wait=wait)

    def _serve(self, partner: Partner) -> None:
        while True:
            message = partner.conn.recv()
            if message[0] != "request":
                return
            partner.send("value", self.handle(message[1]))


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
