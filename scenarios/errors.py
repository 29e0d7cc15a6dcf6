"""Errors in a scenario file: each names the file and key and says what to do."""


class ScenarioError(Exception):
    """A scenario file is missing, malformed or inconsistent with its data."""
