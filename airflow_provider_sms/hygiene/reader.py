r"""Stream a CSV list of numbers in, one row at a time, strictly, with errors that name the line.

The file is decoded as a stream (any Python encoding; a UTF-8 byte-order mark is accepted)
and split into lines the way the csv module expects (``newline=""``: ``\n``, ``\r\n`` and a
lone ``\r`` all end a line, so old Mac files with CR-only line endings read as they should).
An undecodable byte is reported with its line and column, never as a failure of a whole
read buffer; the file is never held in memory.

The reader is strict: every record the parser returns is accounted for as exactly one data
row, one blank line, or an error. A quote that is never closed, text after a closing quote,
a line break inside the number cell, and a quoted value that swallowed lines which look
like rows of their own (a stray quote) all fail the read, naming the line and the column,
instead of silently merging rows. Legitimate quoted values over several lines (an address
in a notes column) are kept. Blank lines (nothing but commas and spaces) are not data rows:
they are skipped and counted. Fields up to :data:`FIELD_LIMIT` characters are read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, NamedTuple

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.exceptions import HygieneInputError
from airflow_provider_sms.hygiene.csv_checks import (
    field_start_column,
    first_multiline_quote,
    first_quote_problem,
    looks_like_a_row,
    utf16_without_declaring_it,
)
from airflow_provider_sms.hygiene.verdicts import RESULT_COLUMNS

RENAMED_INPUT_SUFFIX = "_input"
FIELD_LIMIT = 10 * 1024 * 1024  # characters in one field (a notes cell of 10 MiB is read)
LINE_LIMIT = 2 * FIELD_LIMIT  # characters in one line: a file without line breaks is refused, not loaded
_SNIFF_BYTES = 4096
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes the decoder could not read (surrogateescape)


class InputRow(NamedTuple):
    """One data row: ``number`` is its (1-based) position among data rows, ``line`` in the file."""

    number: int
    line: int
    values: list[str]
    width_mismatch: bool


class CsvSource:
    """A CSV list on any filesystem ``ObjectStoragePath`` knows, read as a stream.

    :param path: the file.
    :param number_column: the header name of the column holding phone numbers.
    :param encoding: the file's text encoding (a UTF-8 byte-order mark is always accepted).
    """

    def __init__(self, path: ObjectStoragePath, number_column: str, *, encoding: str = "utf-8") -> None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise HygieneInputError(f"Unknown encoding {encoding!r} for the input list") from None
        self.path = path
        self.number_column = number_column
        self.encoding = encoding
        # A UTF-8 byte-order mark is removed from the first line whatever the encoding says.
        self._codec = "utf-8" if codec == "utf-8-sig" else codec
        self.blank_lines = 0
        self.data_rows = 0
        if csv.field_size_limit() < FIELD_LIMIT:  # process-wide: only ever raised, never lowered
            csv.field_size_limit(FIELD_LIMIT)

    @contextmanager
    def rows(self) -> Iterator[tuple[list[str], int, Iterator[InputRow]]]:
        """Open the file; yield ``(header, number_index, rows)``. ``rows`` skips blank lines."""
        if not self.path.exists():
            raise HygieneInputError(f"Input list {self.path} does not exist")
        with self.path.open("rb") as binary:
            self._check_encoding(binary)  # a read through Airflow's wrapper: its lineage sees the input
            # The file under Airflow's lineage wrapper: the wrapper costs a Python call per line.
            raw = getattr(binary, "_obj", binary)
            text = io.TextIOWrapper(raw, encoding=self._codec, errors="surrogateescape", newline="")
            record: list[str] = []  # the lines of the record being parsed, for diagnostics
            reader = csv.reader(self._lines(text, record), strict=True)
            self.blank_lines = self.data_rows = 0
            header = self._header(reader, record)
            index = self._number_index(header)
            yield header, index, self._data_rows(reader, record, header, index)

    def count(self) -> tuple[int, int]:
        """Read the whole file once: ``(data rows, blank lines)``.

        Also proves, before a single paid request, that every line decodes and parses.
        """
        with self.rows() as (_, _, data):
            for _ in data:
                pass
        return self.data_rows, self.blank_lines

    # -- bytes to lines ----------------------------------------------------------------

    def _check_encoding(self, binary: IO[bytes]) -> None:
        head = binary.read(_SNIFF_BYTES)
        binary.seek(0)
        if self._codec.startswith(("utf-16", "utf-32")):
            return
        advice = utf16_without_declaring_it(head)
        if advice:
            found = (
                "is UTF-16 (Excel's 'Unicode text')"
                if advice == "utf-16"
                else "looks like UTF-16 without a byte-order mark"
            )
            raise HygieneInputError(
                f"Input list {self.path} {found}: set encoding={advice!r}, "
                "or save it as 'CSV UTF-8' and run again"
            )

    def _lines(self, text: io.TextIOWrapper, record: list[str]) -> Iterator[str]:
        readline = text.readline
        keep = record.append
        line_no = 0
        while True:
            try:
                line = readline(LINE_LIMIT)
            except UnicodeDecodeError as exc:
                raise HygieneInputError(
                    f"Input list {self.path}: line {line_no + 1} is not valid {self.encoding} "
                    f"({exc.reason}). Give the operator the file's encoding (encoding='utf-16', 'cp1252'...)"
                ) from None
            if not line:
                return
            line_no += 1
            if len(line) >= LINE_LIMIT and line[-1] not in "\r\n":
                raise HygieneInputError(
                    f"Input list {self.path}: line {line_no} is longer than {LINE_LIMIT:,} characters "
                    "(a field may hold up to 10 MiB): is it a CSV file?"
                )
            if not line.isascii():
                if line_no == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                bad = _UNDECODABLE.search(line)
                if bad:
                    byte = ord(bad.group()) - 0xDC00
                    raise HygieneInputError(
                        f"Input list {self.path}: line {line_no} is not valid {self.encoding} "
                        f"(byte 0x{byte:02x} at column {bad.start() + 1}). Save the file as UTF-8, "
                        "or give the operator its encoding (encoding='cp1252', 'latin-1'...)"
                    )
            keep(line)
            yield line

    # -- lines to rows -----------------------------------------------------------------

    def _header(self, reader: Iterator[list[str]], record: list[str]) -> list[str]:
        while True:
            record.clear()
            fields = self._next(reader, record, reader.line_num + 1)  # type: ignore[attr-defined]
            if fields is None:
                break
            if _is_blank(fields):
                continue
            return [name.strip() for name in fields]
        raise HygieneInputError(
            f"Input list {self.path} is empty: expected a CSV header line naming the column "
            f"{self.number_column!r}, then one row per number"
        )

    def _number_index(self, header: list[str]) -> int:
        matches = [i for i, name in enumerate(header) if name == self.number_column]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise HygieneInputError(
                f"Input list {self.path}: the header names the column {self.number_column!r} "
                f"{len(matches)} times ({header}); rename the copies"
            )
        close = [name for name in header if name.lower() == self.number_column.strip().lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        shown = [_masked_if_number(name) for name in header]  # a list without a header line
        raise HygieneInputError(
            f"Input list {self.path} has no column {self.number_column!r}; its header is {shown}. "
            f"Set number_column to the column holding the phone numbers.{hint}"
        )

    def _data_rows(
        self, reader: Iterator[list[str]], record: list[str], header: list[str], index: int
    ) -> Iterator[InputRow]:
        width = len(header)
        line_num = reader.line_num  # type: ignore[attr-defined]
        number = 0
        forget = record.clear
        while True:  # the loop of every row of the list: kept lean
            forget()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self._parse_error(exc, record, line_num + 1) from None
            start, line_num = line_num + 1, reader.line_num  # type: ignore[attr-defined]
            if line_num != start:  # a quoted value over several lines: legitimate, or rows merged
                self._check_multiline(fields, record, start, width, index)
            if not (index < len(fields) and fields[index].strip()) and _is_blank(fields):
                self.blank_lines += 1
                continue
            number += 1
            self.data_rows = number
            mismatch = len(fields) != width
            if mismatch:  # keep the output rectangular: pad short rows, cut long ones
                fields = (fields + [""] * width)[:width]
            yield InputRow(number, start, fields, mismatch)

    def _next(self, reader: Iterator[list[str]], record: list[str], start: int) -> list[str] | None:
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise self._parse_error(exc, record, start) from None

    def _check_multiline(
        self, fields: list[str], record: list[str], start: int, width: int, index: int
    ) -> None:
        where = f"Input list {self.path}: line {start}"
        end = start + len(record) - 1
        if index < len(fields) and ("\n" in fields[index] or "\r" in fields[index]):
            raise HygieneInputError(
                f"{where}, column {field_start_column(record[0], index)}: the number cell "
                f"({self.number_column!r}) holds a line break (a quoted value over lines {start}-{end}). "
                "A phone number fits on one line: look for a stray or unclosed quote there"
            )
        line, column = first_multiline_quote(record)
        opened = f"Input list {self.path}: line {start + line}, column {column}"
        if len(fields) != width:
            raise HygieneInputError(
                f"{opened}: a quoted value runs over lines {start}-{end} and leaves a row of "
                f"{len(fields)} fields where the header has {width}: a stray quote merged rows? "
                'Remove it, or write a quote inside a quoted value as two ("")'
            )
        rows = [start + i for i, text in enumerate(record) if looks_like_a_row(text, width, index)]
        if len(rows) >= 2:
            raise HygieneInputError(
                f"{opened}: a quoted value runs over lines {start}-{end}, and lines {rows[0]} and "
                f"{rows[1]} each look like a row of their own (a number in {self.number_column!r}): a "
                'stray quote merged rows? Remove it, or write a quote inside a quoted value as two ("")'
            )

    def _parse_error(self, exc: csv.Error, record: list[str], start: int) -> HygieneInputError:
        message = str(exc)
        last = start + max(len(record), 1) - 1
        problem = first_quote_problem(record)
        if problem is not None:
            where = f"Input list {self.path}: line {start + problem.line}, column {problem.column}"
            if problem.kind == "after":
                return HygieneInputError(
                    f"{where}: text follows the closing quote of a quoted value. Quote the whole "
                    'field, or write a quote inside a quoted value as two ("")'
                )
            span = f"the rest of the file (lines {start + problem.line}-{last})"
            if "field limit" in message:
                span = f"more than {FIELD_LIMIT:,} characters (lines {start + problem.line}-{last})"
            return HygieneInputError(
                f"{where}: a quote opens a value here and is never closed, so {span} would be read "
                'as one cell. Remove the stray quote, or close it; write a quote inside a value as two ("")'
            )
        if "field limit" in message:
            return HygieneInputError(
                f"Input list {self.path}: line {last} has a field longer than {FIELD_LIMIT:,} characters "
                "(10 MiB), the largest this operator reads"
            )
        if "NUL" in message:
            return HygieneInputError(
                f"Input list {self.path}: line {last} contains a NUL byte: not a text CSV file in "
                f"{self.encoding} (a UTF-16 file? then set encoding='utf-16')"
            )
        return HygieneInputError(f"Input list {self.path}: line {last} is not valid CSV ({message})")


def output_header(header: list[str]) -> list[str]:
    """The input's columns, then :data:`RESULT_COLUMNS`.

    An input column named like an appended one (a CRM's own ``country``) keeps its values
    under ``<name>_input``, so the appended columns always mean the same thing.
    """
    taken = set(header) | set(RESULT_COLUMNS)
    out = []
    for name in header:
        if name in RESULT_COLUMNS:
            renamed = name + RENAMED_INPUT_SUFFIX
            while renamed in taken:
                renamed += RENAMED_INPUT_SUFFIX
            taken.add(renamed)
            name = renamed
        out.append(name)
    return out


def _masked_if_number(name: str) -> str:
    """A header cell holding a phone number, masked: the error goes to the task log."""
    return mask_number(name) if sum(ch.isdigit() for ch in name) >= 6 else name


def _is_blank(fields: list[str]) -> bool:
    return not "".join(fields).strip()
