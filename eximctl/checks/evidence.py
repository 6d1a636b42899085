"""Evidence that the checks collect for the report: headers, options, logs."""

from __future__ import annotations

from pathlib import Path


class Evidence:
    """Appends titled blocks of text to a file that verify prints at the end."""

    def __init__(self, path: Path, host: str = "") -> None:
        self.path = path
        self.host = host

    def add(self, title: str, text: str) -> None:
        if str(self.path) == "/dev/null":
            return
        with self.path.open("a") as out:
            where = f"{self.host}: " if self.host else ""
            out.write(f"== {where}{title}\n{text.rstrip()}\n\n")
