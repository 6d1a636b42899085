"""Safe installation of rendered files: validate, back up, replace atomically."""

from __future__ import annotations

import difflib
import grp
import logging
import os
import tempfile
import time
from pathlib import Path

from eximctl.errors import ConfigError, EximctlError
from eximctl.files import RenderedFile
from eximctl.runner import run

log = logging.getLogger(__name__)


def diff(file: RenderedFile) -> str:
    """Return a unified diff from the installed file to the rendered one."""
    try:
        old = file.path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        old = []
    new = file.content.splitlines(keepends=True)
    return "".join(
        difflib.unified_diff(
            old, new, f"{file.path} (installed)", f"{file.path} (rendered)"
        )
    )


def is_unchanged(file: RenderedFile) -> bool:
    """Return True when the installed file already has the rendered content."""
    try:
        return file.path.read_text() == file.content
    except FileNotFoundError:
        return False


def validate_configure(exim_binary: str, content: str, directory: Path) -> None:
    """Check a configuration with ``exim -bV -C`` before it is installed.

    The file is written next to its final place, because Exim resolves no
    paths at this stage but reports errors with the file name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".configure-check-", delete=False
    ) as handle:
        handle.write(content)
        candidate = Path(handle.name)
    try:
        result = run([exim_binary, "-bV", "-C", str(candidate)], check=False)
    finally:
        candidate.unlink(missing_ok=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise ConfigError(
            f"Exim rejected the rendered configuration: {message}; "
            "nothing was installed and the running configuration is unchanged"
        )


def install_files(files: list[RenderedFile], backup_directory: Path) -> list[Path]:
    """Install ``files`` atomically, keeping a backup of each replaced file.

    Every file is first written to a temporary name in its own folder, so a
    failure part-way leaves the installed files as they were.
    """
    pending: list[tuple[RenderedFile, Path]] = []
    try:
        for file in files:
            if is_unchanged(file):
                continue
            pending.append((file, _write_temporary(file)))
    except OSError as exc:
        for _, temporary in pending:
            temporary.unlink(missing_ok=True)
        raise EximctlError(f"cannot write {exc.filename}: {exc.strerror}") from exc

    stamp = time.strftime("%Y%m%d-%H%M%S")
    changed = []
    for file, temporary in pending:
        if file.path.exists():
            backup_directory.mkdir(parents=True, exist_ok=True)
            backup = backup_directory / f"{file.path.name}.{stamp}"
            backup.write_bytes(file.path.read_bytes())
            log.info("backed up %s to %s", file.path, backup)
        os.replace(temporary, file.path)
        changed.append(file.path)
    return changed


def _write_temporary(file: RenderedFile) -> Path:
    file.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=file.path.parent, prefix=f".{file.path.name}.", delete=False
    ) as handle:
        handle.write(file.content)
    temporary = Path(handle.name)
    os.chmod(temporary, file.mode)
    os.chown(temporary, 0, grp.getgrnam(file.group).gr_gid)
    return temporary
