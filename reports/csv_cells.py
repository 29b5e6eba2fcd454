"""CSV cells safe to open in a spreadsheet.

A cell starting with =, +, -, @, tab or carriage return is read as a formula by Excel and
LibreOffice (CSV injection, OWASP). Every CSV the app writes passes its cells through
`safe_cell`, which prefixes such text with a single quote. Numbers, and text that is a plain
number (CheXpert's "-1.0" uncertain), are left alone: a negative number is data, not a formula.
"""

from collections.abc import Iterable
from numbers import Number

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text


def safe_row(values: Iterable[object]) -> list[object]:
    return [value if isinstance(value, Number) else safe_cell(value) for value in values]
