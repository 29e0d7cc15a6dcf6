"""CSV files as spreadsheets write them, read the same way for every input: cells as text (ids keep their
leading zeros), UTF-8 with or without a byte-order mark or else Windows-1252, ',' or ';' between values,
headers stripped of spaces, rows with nothing in them dropped; numbers with thousands separators (1,234,567) or, in a
';' file (European Excel), decimal commas (see to_numbers)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from geodata.errors import GeodataError

NUMBERS = "numbers"  # key in DataFrame.attrs: how the file writes numbers, see to_numbers
# 1,234,567.5 in a ',' file; 1.234.567,5 or 1234567,5 in a ';' file (a bare 1,5 in a ',' file is ambiguous: left alone)
_GROUPED_POINT = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_COMMA_DECIMAL = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d*)?$"
_WITH_COMMA = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$"  # 39,2 or 1.234,5: a decimal comma
_GROUPED_DOTS = r"^[+-]?\d{1,3}(\.\d{3})+$"  # 379.063: thousands in European Excel, or three decimals


def read_text_csv(path: Path, what: str) -> pd.DataFrame:
    """Every cell as text ('' where blank); `what` names the file's role in messages (e.g. 'units.path').
    The row index stays the file's (row i is line i + 2, counting the header as line 1)."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise GeodataError(f"{path.name}: cannot be read as text (neither UTF-8 nor Windows-1252); save it as "
                           f"UTF-8 CSV ({what})")
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    try:  # blank lines kept (then dropped below) so that row i stays line i + 2 in messages
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        first = str(err).splitlines()[0] if str(err) else "no header"
        raise GeodataError(f"{path.name}: cannot be read as CSV ({first}); check the file ({what})") from None
    table.columns = [str(c).strip() for c in table.columns]
    table = table[(table.apply(lambda s: s.str.strip()) != "").any(axis=1)]  # ',,,' rows a spreadsheet leaves
    european = sep == ";" and bool(table.apply(lambda c: c.str.strip().str.match(_WITH_COMMA)).to_numpy().any())
    table.attrs[NUMBERS] = "european" if european else "semicolon" if sep == ";" else "plain"
    return table


def find_column(table: pd.DataFrame, name: str) -> str | None:
    """The table's column called `name`, in any case (a spreadsheet writes 'A' or 'Unit')."""
    if name in table.columns:
        return name
    return next((c for c in table.columns if c.lower() == name.lower()), None)


def alias_columns(table: pd.DataFrame, names) -> list[str]:
    """Each of `names` the file writes in another case (' FIPS ' for fips) copied under that spelling, so that two
    scenario keys may name one column two ways; returns the names the file does not have at all."""
    missing = []
    for name in names:
        found = find_column(table, name)
        if found is None:
            missing.append(name)
        elif found != name:
            table[name] = table[found]
    return missing


def to_numbers(values: pd.Series, style: str = "plain", what: str = "a column") -> pd.Series:
    """Numbers from cells as a spreadsheet writes them (NaN where a cell is blank or not a number). `style` is
    the file's (read_text_csv): 'plain' (',' between values: 1,234,567.5); in a ';' file a column with a
    decimal comma (39,2) reads 1.234,5; one whose dotted numbers are all grouped in threes (379.063) reads
    thousands where the file writes decimal commas elsewhere ('european'), and is refused as ambiguous where
    it does not ('semicolon'); any other column reads 37.5 as 37.5. `what` names the column in that message."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float)
    text = values.astype("string").str.strip().str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    if style == "plain":
        grouped = text.str.match(_GROUPED_POINT, na=False)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    elif text.str.match(_WITH_COMMA, na=False).any():
        comma = text.str.match(_COMMA_DECIMAL, na=False)
        text = text.where(~comma, text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    else:
        dotted = text[text.str.contains(".", regex=False, na=False)]
        if len(dotted) and dotted.str.match(_GROUPED_DOTS, na=False).all():
            if style != "european":
                cell = str(dotted.iloc[0])
                raise GeodataError(f"{what}: '{cell}' may be {float(cell):g} or {float(cell.replace('.', '')):,.0f} (the "
                                   "file has ';' between values but no decimal comma to tell); write the numbers "
                                   "without thousands points, or with a decimal comma")
            text = text.str.replace(".", "", regex=False)
    return pd.to_numeric(text.astype(object), errors="coerce").astype(float)  # NaN, not <NA>, where no number


def first_bad(values: pd.Series, numbers: pd.Series) -> str:
    """' (e.g. 'n/a')': the first cell that is not a number, for a message ('' when it is blank)."""
    bad = values[numbers.isna()].astype(str).str.strip()
    bad = bad[bad != ""]
    return f" (e.g. '{bad.iloc[0]}')" if len(bad) else ""


def as_known_ids(ids: pd.Series, known: tuple[str, ...]) -> pd.Series:
    """Ids as a spreadsheet may have rewritten them, back to the units file's: 13001.0 -> 13001, and 1001 ->
    01001 where only the leading zeros were lost (an id the units file has as written stays as it is)."""
    known_set = set(known)
    padded = {u.lstrip("0"): u for u in known if u.isdigit()}

    def back(u: str) -> str:
        if u in known_set:
            return u
        whole = u[:-2] if u.endswith(".0") and u[:-2].isdigit() else u
        return whole if whole in known_set else padded.get(whole.lstrip("0"), u) if whole.isdigit() else u

    return ids.map(back)
