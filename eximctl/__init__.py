"""Build, configure and verify an Exim mail server from a site file."""

__version__ = "0.1.0"
