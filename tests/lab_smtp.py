"""Run the scripted SMTP client of smtp_probe inside a lab namespace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from eximctl.lab.hosts import find_host

PROBE = Path(__file__).with_name("smtp_probe.py")
LAB_CA = "/var/lib/eximctl/lab/ca/ca.crt"


def probe(host: str, **request: Any) -> dict[str, Any]:
    """Run one SMTP session from lab host ``host``; return the probe's result.

    The request goes in on stdin, so a password in it never shows up in a
    process listing.
    """
    namespace = find_host(host).namespace
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, str(PROBE)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def codes(result: dict[str, Any]) -> list[int]:
    """Return the reply code of every step that got one."""
    return [r["code"] for r in result["replies"] if "code" in r]
