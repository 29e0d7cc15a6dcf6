"""Output folders that appear whole or not at all: written under a hidden temporary name, renamed into
place (never over an earlier folder) when complete, removed if anything fails or is interrupted."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


class NewFolder:
    """`with NewFolder(root, name) as tmp:` write into tmp; afterwards `.path` is the landed folder
    (`root/name`, or `root/name-2`, … when that exists)."""

    def __init__(self, root: Path, name: str):
        self.root, self.name = Path(root), name
        self.path: Path | None = None

    def __enter__(self) -> Path:
        missing = [p for p in (self.root, *self.root.parents) if not p.exists()]
        self.root.mkdir(parents=True, exist_ok=True)
        self.created = missing  # deepest first: removed again, when empty, if the run fails
        self.tmp = self.root / f".tmp-{self.name}-{time.monotonic_ns()}"
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            for folder in self.created:  # a failed first run leaves no empty runs/<scenario>/ behind
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (another run landed meanwhile), or not ours to remove
            return False
        candidate, n = self.root / self.name, 1
        while candidate.exists():
            n += 1
            candidate = self.root / f"{self.name}-{n}"
        self.tmp.rename(candidate)
        self.path = candidate
        return False
