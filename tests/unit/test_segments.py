"""Encoding and segment counts of SMS texts, against known examples."""

from __future__ import annotations

import pytest

from airflow_provider_sms.api.segments import Encoding, encoding_of, measure


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", Encoding.GSM7, 0, 0),
        ("Hi Maja, your order 29211 ships today", Encoding.GSM7, 37, 1),
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("a" * 459, Encoding.GSM7, 459, 3),
        ("a" * 460, Encoding.GSM7, 460, 4),
        # Extension characters count 2 septets.
        ("€", Encoding.GSM7, 2, 1),
        ("{", Encoding.GSM7, 2, 1),
        ("Price: 5€", Encoding.GSM7, 10, 1),
        ("€" * 80, Encoding.GSM7, 160, 1),
        ("€" * 81, Encoding.GSM7, 162, 2),
        # An escape pair never straddles two segments: 152 + 2 does not fit 153.
        ("a" * 152 + "€" + "a" * 10, Encoding.GSM7, 164, 2),
        ("a" * 152 + "€" + "a" * 152, Encoding.GSM7, 306, 3),  # 306 septets, yet 3 segments
        ("a" * 151 + "€" + "a" * 153, Encoding.GSM7, 306, 2),
        ("a" * 151 + "€" + "a" * 151, Encoding.GSM7, 304, 2),
        # Accented letters of the default alphabet stay GSM-7; others switch to UCS-2.
        ("Café à Zürich, señor", Encoding.GSM7, 20, 1),
        ("Łódź", Encoding.UCS2, 4, 1),
        ("Ça va", Encoding.GSM7, 5, 1),
        ("ça va", Encoding.UCS2, 5, 1),
        ("ж" * 70, Encoding.UCS2, 70, 1),
        ("ж" * 71, Encoding.UCS2, 71, 2),
        ("ж" * 134, Encoding.UCS2, 134, 2),
        ("ж" * 135, Encoding.UCS2, 135, 3),
        # An emoji is two UTF-16 code units and makes the whole text UCS-2.
        ("Thanks 👍", Encoding.UCS2, 9, 1),
        ("😀" * 35, Encoding.UCS2, 70, 1),
        ("😀" * 36, Encoding.UCS2, 72, 2),
        # A surrogate pair never straddles two segments.
        ("ж" * 66 + "😀" + "ж" * 10, Encoding.UCS2, 78, 2),
        ("ж" * 66 + "😀" + "ж" * 66, Encoding.UCS2, 134, 3),
    ],
)
def test_known_examples(text: str, encoding: Encoding, units: int, segments: int) -> None:
    measured = measure(text)
    assert (measured.encoding, measured.units, measured.segments) == (encoding, units, segments)


def test_one_character_outside_gsm7_switches_the_whole_message() -> None:
    text = "a" * 100 + "ł"
    assert encoding_of(text) is Encoding.UCS2
    assert measure(text).segments == 2  # 101 UCS-2 units: two segments of 67, where GSM-7 needed one
