"""Stream a CSV list of numbers in, one row at a time, with errors that name the row.

Lines are decoded one by one (UTF-8 splits safely on ``\\n``), so an undecodable byte is
reported with its line number instead of failing a whole read buffer, and the file is
never held in memory. A UTF-8 byte-order mark is accepted. Blank lines (nothing but
commas and spaces) are not data rows: they are skipped and counted.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.compat import AirflowException, iter_lines
from airflow_provider_sms.hygiene.verdicts import RESULT_COLUMNS

RENAMED_INPUT_SUFFIX = "_input"


class HygieneInputError(AirflowException):
    """The input list cannot be read as it is: the message names the file, the line and the fix."""


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
        if encoding.lower().replace("_", "-") in ("utf-8-sig", "utf8-sig"):
            encoding = "utf-8"  # the byte-order mark is accepted with plain UTF-8 already
        try:
            ascii_compatible = "number,\n".encode(encoding) == b"number,\n"
        except LookupError:
            raise HygieneInputError(f"Unknown encoding {encoding!r} for the input list") from None
        if not ascii_compatible:  # lines are split on b"\n" before decoding
            raise HygieneInputError(
                f"Encoding {encoding!r} is not ASCII-compatible; save the list as UTF-8 and run again"
            )
        self.path = path
        self.number_column = number_column
        self.encoding = encoding

    @contextmanager
    def rows(self) -> Iterator[tuple[list[str], int, Iterator[InputRow]]]:
        """Open the file; yield ``(header, number_index, rows)``. ``rows`` skips blank lines."""
        if not self.path.exists():
            raise HygieneInputError(f"Input list {self.path} does not exist")
        with self.path.open("rb") as binary:
            reader = csv.reader(self._lines(iter_lines(binary)))
            header = self._header(reader)
            index = self._number_index(header)
            yield header, index, self._data_rows(reader, len(header))

    def count(self) -> tuple[int, int]:
        """Read the whole file once: ``(data rows, blank lines)``.

        Also proves, before a single paid request, that every line decodes and parses.
        """
        rows = 0
        with self.rows() as (_, _, data):
            for row in data:
                rows = row.number
        return rows, self.blank_lines

    def _lines(self, binary: Iterable[bytes]) -> Iterator[str]:
        for line_no, raw in enumerate(binary, start=1):
            if line_no == 1:
                _refuse_utf16(raw, self.path)
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                raise HygieneInputError(
                    f"Input list {self.path}: line {line_no} is not valid {self.encoding} "
                    f"(byte 0x{raw[exc.start]:02x} at column {exc.start + 1}). Save the file as UTF-8, "
                    "or give the operator its encoding (encoding='cp1252', 'latin-1'...)"
                ) from None
            if line_no == 1 and text.startswith("\ufeff"):
                text = text[1:]
            self._line_no = line_no
            yield text

    def _header(self, reader: Iterator[list[str]]) -> list[str]:
        self.blank_lines = 0
        self._line_no = 0
        for fields in self._parse(reader):
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

    def _data_rows(self, reader: Iterator[list[str]], width: int) -> Iterator[InputRow]:
        number = 0
        for fields in self._parse(reader):
            if _is_blank(fields):
                self.blank_lines += 1
                continue
            number += 1
            mismatch = len(fields) != width
            if mismatch:  # keep the output rectangular: pad short rows, cut long ones
                fields = (fields + [""] * width)[:width]
            yield InputRow(number, self._line_no, fields, mismatch)

    def _parse(self, reader: Iterator[list[str]]) -> Iterator[list[str]]:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise HygieneInputError(
                    f"Input list {self.path}: line {self._line_no} is not valid CSV ({exc})"
                ) from None
            yield fields


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
    return all(not field.strip() for field in fields)


def _refuse_utf16(first_line: bytes, path: ObjectStoragePath) -> None:
    if first_line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise HygieneInputError(
            f"Input list {path} is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' "
            "and run again"
        )
