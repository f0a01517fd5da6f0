"""Reading lists: streaming, strict parsing, clear errors naming the line and column, blank lines, headers."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.reader import FIELD_LIMIT, CsvSource, HygieneInputError, output_header


def source(tmp_path: Path, data: bytes, column: str = "number", **kwargs) -> CsvSource:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return CsvSource(ObjectStoragePath(str(path)), column, **kwargs)


def read(src: CsvSource) -> tuple[list[str], int, list[tuple[int, int, list[str], bool]]]:
    with src.rows() as (header, index, rows):
        return header, index, [tuple(row) for row in rows]  # type: ignore[misc]


def test_rows_with_line_numbers_blank_lines_skipped(tmp_path) -> None:
    data = b'id, number ,note\r\n\r\n1,+447400123456,\r\n,,\r\n2,+447400123457,"a\nb"\r\n3,x,\r\n'
    src = source(tmp_path, data)

    header, index, rows = read(src)

    assert header == ["id", "number", "note"]
    assert index == 1
    assert rows == [
        (1, 3, ["1", "+447400123456", ""], False),
        (2, 5, ["2", "+447400123457", "a\nb"], False),  # a quoted newline: one row over two lines
        (3, 7, ["3", "x", ""], False),
    ]
    assert src.blank_lines == 2
    assert src.count() == (3, 2)


def rows_of(text: str, tmp_path: Path, column: str = "phone") -> list[list[str]]:
    with source(tmp_path, text.encode(), column).rows() as (_, _, rows):
        return [row.values for row in rows]


def numbered(count: int, stray_at: int = 0, closed_at: int = 0) -> str:
    """``id,name,phone`` rows; row ``stray_at`` has ``"Bob`` (a stray quote), closed on ``closed_at``."""
    names = {stray_at: '"Bob', closed_at: 'Cat"'}
    rows = (f"{i},{names.get(i, 'Ann')},+4474001{i:05d}\n" for i in range(1, count + 1))
    return "id,name,phone\n" + "".join(rows)


def test_an_unclosed_quote_is_refused_naming_its_line_and_column(tmp_path) -> None:
    problem = r"line 11, column 4: a quote opens a value here and is never closed"
    with pytest.raises(HygieneInputError, match=problem):
        rows_of(numbered(1000, stray_at=10), tmp_path)


def test_a_stray_quote_closed_later_is_refused_not_merged(tmp_path) -> None:
    """The parser would happily read rows 10-12 as one row whose name holds two other rows."""
    problem = r"line 11, column 4: a quoted value runs over lines 11-13, and lines 11 and 12 each look like"
    with pytest.raises(HygieneInputError, match=problem):
        rows_of(numbered(30, stray_at=10, closed_at=12), tmp_path)
    with pytest.raises(HygieneInputError, match="stray quote merged rows"):  # one row swallowed
        rows_of(numbered(30, stray_at=10, closed_at=11), tmp_path)


def test_a_quoted_value_over_lines_that_leaves_a_ragged_row_is_refused(tmp_path) -> None:
    text = 'id,name,phone,city\n1,"Bob,+447400100001,Oslo\n2,Cat,+447400100002",x\n'
    with pytest.raises(HygieneInputError, match=r"line 2, column 3: .* of 3 fields where the header has 4"):
        rows_of(text, tmp_path)


def test_a_line_break_in_the_number_cell_is_refused(tmp_path) -> None:
    problem = r"line 2, column 3: the number cell \('phone'\) holds a line break"
    with pytest.raises(HygieneInputError, match=problem):
        rows_of('id,phone\n1,"+44 7400\n100001"\n', tmp_path)


def test_text_after_a_closing_quote_is_refused(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match=r"line 3, column 8: text follows the closing quote"):
        rows_of('id,name,phone\n1,Ann,+447400100001\n2,"Bob"by,+447400100002\n', tmp_path)


def test_legitimate_values_over_several_lines_are_kept(tmp_path) -> None:
    text = (
        "id,address,phone,note\n"
        '1,"12 High St\nLondon, UK",+447400100001,"call after 5,\nnot on Sundays"\n'
        '2,"He said ""hi""",+447400100002,\n'
    )
    assert rows_of(text, tmp_path) == [
        ["1", "12 High St\nLondon, UK", "+447400100001", "call after 5,\nnot on Sundays"],
        ["2", 'He said "hi"', "+447400100002", ""],
    ]


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_any_line_ending_reads_the_same_rows(tmp_path, ending: str) -> None:
    text = ending.join(["id,phone", "1,+447400100001", "2,+447400100002", ""])
    assert rows_of(text, tmp_path) == [["1", "+447400100001"], ["2", "+447400100002"]]


def test_fields_up_to_the_documented_size_are_read(tmp_path) -> None:
    notes = "x" * FIELD_LIMIT  # 10 MiB in one cell: the csv module alone stops at 128 KiB
    rows = rows_of(f'id,phone,notes\n1,+447400100001,"{notes}"\n2,+447400100002,short\n', tmp_path)
    assert [len(r[2]) for r in rows] == [FIELD_LIMIT, 5]

    with pytest.raises(HygieneInputError, match=r"line 2 has a field longer than 10,485,760 characters"):
        rows_of(f"id,phone,notes\n1,+447400100001,{notes}x\n", tmp_path)


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


def test_utf16_with_a_byte_order_mark_needs_its_encoding(tmp_path) -> None:
    data = "number\n+44\n".encode("utf-16")
    with pytest.raises(HygieneInputError, match=r"is UTF-16 \(Excel's 'Unicode text'\): set encoding="):
        read(source(tmp_path, data))
    assert source(tmp_path, data, encoding="utf-16").count() == (1, 0)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_detected_not_read_as_garbage(tmp_path, codec: str) -> None:
    data = "id,number\n1,+447400123456\n".encode(codec)
    problem = f"looks like UTF-16 without a byte-order mark: set encoding='{codec}'"
    with pytest.raises(HygieneInputError, match=problem):
        read(source(tmp_path, data))
    header, _, rows = read(source(tmp_path, data, encoding=codec))
    assert (header, rows[0][2]) == (["id", "number"], ["1", "+447400123456"])


def test_unknown_encoding(tmp_path) -> None:
    with pytest.raises(HygieneInputError, match="Unknown encoding"):
        source(tmp_path, b"number\n", encoding="klingon")


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
