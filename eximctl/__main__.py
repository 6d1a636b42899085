"""Run eximctl as ``python -m eximctl``."""

from eximctl.cli import main

main()
