"""Errors in a scenario file: each names the file and key and says what to do."""


class ScenarioError(Exception):
    """A scenario file is missing, malformed or inconsistent with its data."""


def quote_hint(unit: str, known=()) -> str:
    """For an unknown all-digit id: the known id it is with its leading zeros (a spreadsheet dropped them)."""
    if not unit.isdigit():
        return ""
    padded = [u for u in known if u.isdigit() and u.lstrip("0") == unit.lstrip("0") and u != unit]
    return f" (did you mean '{padded[0]}'? ids are text and match as written, leading zeros included)" if padded else ""
