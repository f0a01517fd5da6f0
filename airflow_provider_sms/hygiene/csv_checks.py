"""Diagnostics for the strict reader: where a list's quoting went wrong, and what the file really is.

Nothing here runs per row: the reader calls it for the few records that span lines, for
the first bytes of the file, and once a parse has already failed, to name the line and
the column of the cause instead of repeating the csv module's message.
"""

from __future__ import annotations

import codecs
import csv
import re
from typing import NamedTuple

_LETTERS = re.compile(r"[^\W\d_]")  # a letter of any script
_QUOTE = '"'
_DELIMITER = ","
_LINE_BREAK = "\r\n"


class QuoteProblem(NamedTuple):
    """A quoting fault in the lines of one record: ``line`` is an index into them, ``column`` is 1-based."""

    line: int
    column: int
    kind: str  # "unclosed": a quote opens a field that never closes; "after": text follows a closing quote


def first_quote_problem(lines: list[str]) -> QuoteProblem | None:
    """The first quoting fault in ``lines`` (one record, as read), under the CSV rules the reader uses."""
    return _scan(lines)[0]


def first_multiline_quote(lines: list[str]) -> tuple[int, int]:
    """``(line index, column)`` of the quote opening the first field that runs over a line break."""
    return _scan(lines)[1] or (0, 1)


def _scan(lines: list[str]) -> tuple[QuoteProblem | None, tuple[int, int] | None]:
    start, unquoted, quoted, quote_in_quoted = range(4)
    state = start
    opened = (0, 1)
    multiline = None
    for line_index, line in enumerate(lines):
        for column, char in enumerate(line, start=1):
            if state == start:
                if char == _QUOTE:
                    state, opened = quoted, (line_index, column)
                elif char not in _DELIMITER and char not in _LINE_BREAK:
                    state = unquoted
            elif state == unquoted:
                if char == _DELIMITER or char in _LINE_BREAK:
                    state = start
            elif state == quoted:
                if char == _QUOTE:
                    state = quote_in_quoted
                elif char in _LINE_BREAK and multiline is None:
                    multiline = opened
            elif char == _QUOTE:  # a doubled quote inside a quoted field
                state = quoted
            elif char == _DELIMITER or char in _LINE_BREAK:
                state = start
            else:
                return QuoteProblem(line_index, column, "after"), multiline
    if state == quoted:
        return QuoteProblem(*opened, "unclosed"), multiline
    return None, multiline


def field_start_column(line: str, index: int) -> int:
    """1-based column where field ``index`` starts in ``line`` (quoted delimiters skipped)."""
    field, inside = 0, False
    for column, char in enumerate(line, start=1):
        if field == index:
            return column
        if char == _QUOTE:
            inside = not inside
        elif char == _DELIMITER and not inside:
            field += 1
    return len(line) + 1


def looks_like_a_row(line: str, width: int, number_index: int) -> bool:
    """Whether ``line``, its quotes taken as plain characters, is a whole row holding a phone number.

    Two such lines inside one record mean a stray quote merged rows that were meant apart.
    """
    fields = next(csv.reader([line], quoting=csv.QUOTE_NONE), [])
    return len(fields) == width and looks_like_a_number(fields[number_index])


def looks_like_a_number(cell: str) -> bool:
    return sum(char.isdigit() for char in cell) >= 6 and not _LETTERS.search(cell)


def utf16_without_declaring_it(head: bytes) -> str | None:
    """The ``encoding=`` to advise when ``head`` (a file's first bytes) is UTF-16, else ``None``."""
    if head.startswith(codecs.BOM_UTF8):
        return None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even_nuls, odd_nuls = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    # ASCII text in UTF-16: every other byte is zero (the second of each pair when little-endian).
    if odd_nuls >= 0.3 * pairs and even_nuls <= 0.05 * pairs:
        return "utf-16-le"
    if even_nuls >= 0.3 * pairs and odd_nuls <= 0.05 * pairs:
        return "utf-16-be"
    return None
