"""The `tplan` console script: notes when the process began, before the heavy imports (about 3 s), so
that `tplan run --time-limit` counts them too, then hands over to the CLI."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time

STARTED = time.perf_counter()


class Terminated(SystemExit):
    """SIGTERM (a scheduler's kill): unwinds like an exception, so a run folder being written is removed."""


def _terminate(signum, frame) -> None:
    raise Terminated(143)


def main() -> None:
    try:
        signal.signal(signal.SIGTERM, _terminate)
        from scenarios import cli

        cli.started_at = STARTED
        cli.app()
        code = 0
    except Terminated as done:
        print("terminated (SIGTERM): nothing half-written was left", file=sys.stderr)
        code = done.code
    except SystemExit as done:  # typer ends every command this way
        code = done.code
    except KeyboardInterrupt:  # Ctrl-C while Python was still importing, before the command could catch it
        print("interrupted: nothing was written", file=sys.stderr)
        code = 130
    # The command's work is written and closed. The interpreter's own teardown (freeing what libpysal, OR-Tools,
    # numba and Pyomo loaded) took 0.9-1.3 s after a Georgia run, past the time limit the run had kept to:
    # run the exit handlers, flush, and leave without it.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if code is None or isinstance(code, int):
        os._exit(code or 0)
    print(code, file=sys.stderr)  # SystemExit("message") prints its message and exits 1
    sys.stderr.flush()
    os._exit(1)
