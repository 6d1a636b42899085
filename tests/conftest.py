"""Fixtures shared by the test modules."""

pytest_plugins = ["exim_fixtures", "lab_fixtures"]
