"""Run the external commands of the lab, raising LabError with a fix."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

from eximctl.errors import LabError

log = logging.getLogger(__name__)

_TIMEOUT = 60


def run(
    command: Sequence[str], fix: str, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and capture its output.

    On a non-zero exit (when ``check``), a missing program or a timeout, raise
    LabError naming the command, its output and ``fix``.
    """
    args = list(command)
    log.debug("running %s", " ".join(args))
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=_TIMEOUT
        )
    except FileNotFoundError:
        raise LabError(f"command {' '.join(args)!r} failed: {args[0]} not found; {fix}")
    except subprocess.TimeoutExpired:
        raise LabError(
            f"command {' '.join(args)!r} timed out after {_TIMEOUT} s; {fix}"
        ) from None
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise LabError(
            f"command {' '.join(args)!r} failed with exit code {result.returncode}"
            f" ({output or 'no output'}); {fix}"
        )
    return result


def start_daemon(command: Sequence[str], log_file: Path, fix: str) -> None:
    """Start a program that forks into the background itself, and wait for it.

    Its output goes to ``log_file`` rather than to a pipe, because a daemon
    that kept the pipe open would block the caller until it exits.
    """
    args = list(command)
    log.debug("starting %s (output in %s)", " ".join(args), log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as output:
        try:
            returncode = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=_TIMEOUT,
            ).returncode
        except FileNotFoundError:
            raise LabError(f"cannot start {args[0]}: not found; {fix}") from None
        except subprocess.TimeoutExpired:
            raise LabError(
                f"command {' '.join(args)!r} did not return within {_TIMEOUT} s; "
                f"see {log_file}; {fix}"
            ) from None
    if returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
        raise LabError(
            f"command {' '.join(args)!r} failed with exit code {returncode}"
            f" ({' / '.join(tail) or 'no output'}); {fix}"
        )
