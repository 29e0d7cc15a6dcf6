"""Errors for bad geographic input: each names the file, column or unit and says what to do."""


class GeodataError(Exception):
    """A user's geographic input is wrong (file, column, id, geometry, CRS)."""
