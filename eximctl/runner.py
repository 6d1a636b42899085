"""Run external commands, logging each at debug and raising CommandError."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence

from eximctl.errors import CommandError

log = logging.getLogger(__name__)


def run(
    command: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; raise CommandError on a non-zero exit when ``check``."""
    log.debug("running %s", " ".join(command))
    try:
        result = subprocess.run(
            list(command),
            input=input,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise CommandError(list(command), 127, f"{command[0]}: not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(list(command), -1, f"timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        raise CommandError(
            list(command), result.returncode, result.stdout + result.stderr
        )
    return result
