"""The `tplan` console script: notes when the process began, before the heavy imports (about 3 s), so
that `tplan run --time-limit` counts them too, then hands over to the CLI."""

from __future__ import annotations

import time

STARTED = time.perf_counter()


def main() -> None:
    from scenarios import cli

    cli.started_at = STARTED
    cli.app()
