"""Benchmarks of eximctl: rendering, zones, the lab and delivery throughput.

Run as root from the repository: ``python bench/run.py [--messages N]``.
It prints a Markdown table; copy the figures into bench/results.md together
with the machine they were measured on. Lab benchmarks take the same lock as
the lab tests, so they never run over a lab that a test is using.
"""

from __future__ import annotations

import argparse
import fcntl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from eximctl.files import render_configure
from eximctl.lab.control import lab_down, lab_up
from eximctl.lab.hosts import find_host
from eximctl.lab_sites import LAB_NAMESERVER, lab_sites
from eximctl.site import bundled_site_path, load_site
from eximctl.zones import build_zones

LOCK = Path("/tmp/eximctl-lab-tests.lock")

# Sends N messages from inside the inbox namespace to ann@alpha.test on mx1
# over one SMTP connection; argv: count, token.
SENDER = r"""
import smtplib, sys
count, token = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("192.0.2.11", 25, timeout=30) as client:
    for i in range(count):
        body = f"Subject: bench {token} {i}\n\nbench message {i}\n"
        client.sendmail("carol@inbox.test", ["ann@alpha.test"], body)
"""


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    """Return the wall-clock seconds of ``repeat`` calls of ``function``."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def row(name: str, samples: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    median = statistics.median(samples) * scale
    worst = max(samples) * scale
    return f"| {name} | {len(samples)} | {median:.1f} {unit} | {worst:.1f} {unit} |"


def bench_render() -> list[str]:
    sites = [load_site(bundled_site_path(f"lab/{n}")) for n in ("mx1", "mx2")]
    load = timed(lambda: load_site(bundled_site_path("lab/mx1")), 50)
    render = timed(lambda: [render_configure(s) for s in sites], 50)
    zones = timed(lambda: build_zones(lab_sites(), LAB_NAMESERVER), 10)
    return [
        row("load and validate one site file", load),
        row("render two runtime configurations", render),
        row("build the six lab zones", zones),
    ]


def bench_lab(messages: int) -> list[str]:
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab_down()
        up = timed(lambda: lab_up(None, with_mail=True), 1)
        delivery = _delivery_seconds(messages)
        down = timed(lab_down, 1)
    rate = messages / delivery
    return [
        row("lab up (5 namespaces, NSD, sshd, 4 Exims)", up, "s"),
        row("lab down", down, "s"),
        f"| deliver {messages} messages inbox -> mx1 | 1 | {delivery:.2f} s | "
        f"{rate:.1f} msg/s |",
    ]


def _delivery_seconds(messages: int) -> float:
    token = str(time.time_ns())
    mailbox = find_host("mx1").root / "mail" / "ann"
    start = time.perf_counter()
    subprocess.run(
        ["ip", "netns", "exec", "eximlab-inbox", sys.executable, "-c", SENDER,
         str(messages), token],
        check=True,
    )
    deadline = start + 120
    while time.perf_counter() < deadline:
        text = mailbox.read_text() if mailbox.exists() else ""
        if text.count(f"Subject: bench {token} ") >= messages:
            return time.perf_counter() - start
        time.sleep(0.05)
    raise SystemExit(f"not all {messages} messages arrived within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--no-lab", action="store_true")
    args = parser.parse_args()
    print("| benchmark | runs | median | max or rate |")
    print("| --- | --- | --- | --- |")
    for line in bench_render():
        print(line)
    if not args.no_lab:
        for line in bench_lab(args.messages):
            print(line)


if __name__ == "__main__":
    main()
