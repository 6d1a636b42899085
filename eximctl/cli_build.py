"""The 'build' command of eximctl."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
