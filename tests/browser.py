"""Open a page in Debian's headless Chromium with no network, as a manager's browser would from file://."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1400,1100"]


@dataclass
class Page:
    dom: str
    console_errors: list[str]
    seconds: float

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.dom))

    def body_attribute(self, name: str) -> str | None:
        m = re.search(r"<body[^>]*\sdata-" + name + r'="([^"]*)"', self.dom)
        return m.group(1) if m else None


def open_page(path: Path, fragment: str = "", screenshot: Path | None = None, budget_ms: int = 5000) -> Page:
    """The DOM after scripts ran, the console errors, and the seconds Chromium took."""
    url = path.resolve().as_uri() + fragment
    with tempfile.TemporaryDirectory() as profile:
        start = time.perf_counter()
        run = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                              "--dump-dom", url], capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - start
        if screenshot is not None:
            subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                            f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120)
    errors = [line for line in run.stderr.splitlines()
              if "CONSOLE" in line and ("Uncaught" in line or "Error" in line or ":ERROR:" in line)]
    return Page(run.stdout, errors, seconds)
