"""Reading lists: streaming, clear errors naming the line, blank lines, headers."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.reader import CsvSource, HygieneInputError, output_header


def source(tmp_path: Path, data: bytes, column: str = "number", **kwargs) -> CsvSource:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return CsvSource(ObjectStoragePath(str(path)), column, **kwargs)


def read(src: CsvSource) -> tuple[list[str], int, list[tuple[int, int, list[str], bool]]]:
    with src.rows() as (header, index, rows):
        return header, index, [tuple(row) for row in rows]  # type: ignore[misc]


def test_rows_with_line_numbers_blank_lines_skipped(tmp_path) -> None:
    src = source(tmp_path, b'id, number \r\n\r\n1,+447400123456\r\n,\r\n2,"+44 7400\n123457"\r\n3,x\r\n')

    header, index, rows = read(src)

    assert header == ["id", "number"]
    assert index == 1
    assert rows == [
        (1, 3, ["1", "+447400123456"], False),
        (2, 6, ["2", "+44 7400\n123457"], False),  # a quoted newline: one row over two lines
        (3, 7, ["3", "x"], False),
    ]
    assert src.blank_lines == 2
    assert src.count() == (3, 2)


def test_byte_order_mark_is_accepted(tmp_path) -> None:
    header, _, rows = read(source(tmp_path, codecs.BOM_UTF8 + b"number\n+447400123456\n"))

    assert header == ["number"]
    assert rows[0][2] == ["+447400123456"]


def test_ragged_rows_are_padded_or_cut(tmp_path) -> None:
    _, _, rows = read(source(tmp_path, b"a,number,c\n1,+44\n1,+44,3,4\n"))

    assert rows == [(1, 2, ["1", "+44", ""], True), (2, 3, ["1", "+44", "3"], True)]


@pytest.mark.parametrize("data", [b"", b"\n\n", b" , \n"])
def test_empty_file(tmp_path, data: bytes) -> None:
    with pytest.raises(HygieneInputError, match="is empty: expected a CSV header line naming the column"):
        read(source(tmp_path, data))


def test_header_only_is_an_empty_list_not_an_error(tmp_path) -> None:
    assert source(tmp_path, b"id,number\n").count() == (0, 0)


def test_missing_column_names_the_header_and_a_near_match(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match=r"no column 'number'; its header is \['id', 'Number'\]") as e:
        read(source(tmp_path, b"id,Number\n1,+44\n"))

    assert "Did you mean 'Number'?" in str(e.value)


def test_list_without_a_header_line_is_refused_without_its_first_number_in_the_log(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match=r"its header is \['r1', '\+4474\*{6}56'\]") as e:
        read(source(tmp_path, b"r1,+447400123456\nr2,+447400123457\n"))
    assert "447400123456" not in str(e.value)


def test_column_named_twice(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match="names the column 'number' 2 times"):
        read(source(tmp_path, b"number,number\n1,2\n"))


def test_undecodable_line_is_named(tmp_path) -> None:
    src = source(tmp_path, "number,name\n+447400123456,Ann\n+447400123457,Zoë\n".encode("cp1252"))

    with pytest.raises(HygieneInputError, match=r"line 3 is not valid utf-8 \(byte 0xeb at column 17\)"):
        src.count()
    assert source(tmp_path, "number,name\n+44,Zoë\n".encode("cp1252"), encoding="cp1252").count() == (1, 0)


def test_utf16_is_refused_with_advice(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match=r"is UTF-16.*save it as 'CSV UTF-8'"):
        read(source(tmp_path, "number\n+44\n".encode("utf-16")))


@pytest.mark.parametrize(
    ("encoding", "problem"), [("utf-16", "not ASCII-compatible"), ("klingon", "Unknown encoding")]
)
def test_unusable_encodings(tmp_path, encoding: str, problem: str) -> None:
    with pytest.raises(HygieneInputError, match=problem):
        source(tmp_path, b"number\n", encoding=encoding)


def test_utf8_sig_is_read_as_utf8_with_its_byte_order_mark(tmp_path) -> None:
    data = "\ufeffnumber,name\n+447400123456,Zoë\n".encode()
    assert source(tmp_path, data, encoding="utf-8-sig").count() == (1, 0)


def test_missing_file(tmp_path) -> None:
    src = CsvSource(ObjectStoragePath(str(tmp_path / "nope.csv")), "number")

    with pytest.raises(HygieneInputError, match="does not exist"):
        src.count()


def test_output_header_renames_clashing_input_columns() -> None:
    assert output_header(["id", "country", "verdict", "verdict_input"]) == [
        "id", "country_input", "verdict_input_input", "verdict_input",
    ]  # fmt: skip
