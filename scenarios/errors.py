"""Errors in a scenario file: each names the file and key and says what to do."""


class ScenarioError(Exception):
    """A scenario file is missing, malformed or inconsistent with its data."""


def quote_hint(unit: str) -> str:
    """For an unknown all-digit id: YAML reads an unquoted 01001 as the octal number 513, so say to quote it."""
    return " (quote ids with leading zeros in the scenario, e.g. '01001': YAML reads 01001 as a number)" if unit.isdigit() else ""
