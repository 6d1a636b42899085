"""Locations of eximctl's shipped files, installed or run from a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """Return the Jinja template folder.

    A wheel ships it as ``eximctl/templates``; in a source checkout (and an
    editable install) it is the top-level ``templates/`` beside the package.
    """
    installed = _PACKAGE / "templates"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "templates"
