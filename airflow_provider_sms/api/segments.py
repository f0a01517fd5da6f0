"""How an SMS text travels: its encoding (GSM-7 or UCS-2) and how many segments it costs.

Operators bill per segment, so a campaign counts them before it sends anything:

* **GSM-7** when every character is in the GSM 03.38 default alphabet or its extension
  table. An extension character (``^ { } [ ] ~ \\ | €`` and form feed) is sent as an escape
  plus the character: it counts **2**. One segment holds 160 septets; a longer text is split
  into segments of 153 (the rest is the concatenation header), and an escape pair is never
  split across two segments.
* **UCS-2** otherwise (one character outside GSM-7 - an emoji, ``ł``, ``ç`` - switches the whole
  message). Counted in UTF-16 code units (an emoji is 2): 70 in one segment, else segments of
  67, and a surrogate pair is never split.

Plain functions, no I/O: see :func:`measure`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: The GSM 03.38 default alphabet (without the escape character itself).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The GSM 03.38 extension table: each character is sent as escape + character (2 septets).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


class Encoding(str, enum.Enum):
    """The data coding of an SMS."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class Measure:
    """What a text costs.

    :param encoding: GSM-7 or UCS-2.
    :param units: septets (GSM-7, an extension character counts 2) or UTF-16 code units (UCS-2).
    :param segments: how many SMS segments the operator bills (0 for an empty text).
    """

    encoding: Encoding
    units: int
    segments: int


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the default alphabet or its extension table, else UCS-2."""
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            return Encoding.UCS2
    return Encoding.GSM7


def measure(text: str) -> Measure:
    """The encoding, length in units and segment count of ``text``.

    >>> measure("Hi Maja, your order 29211 ships today")
    Measure(encoding=<Encoding.GSM7: 'GSM-7'>, units=37, segments=1)
    >>> measure("Price: 5€").units  # € is an extension character
    10
    """
    encoding = encoding_of(text)
    if encoding is Encoding.GSM7:
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return Measure(encoding, sum(widths), _segments(widths, GSM7_SINGLE, GSM7_PART))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return Measure(encoding, sum(widths), _segments(widths, UCS2_SINGLE, UCS2_PART))


def _segments(widths: list[int], single: int, part: int) -> int:
    """Segments for characters of ``widths`` units: one if all fit ``single``, else packed into ``part``.

    A character of width 2 (an escape pair, a surrogate pair) never straddles two segments.
    """
    total = sum(widths)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return segments


__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_PART",
    "GSM7_SINGLE",
    "UCS2_PART",
    "UCS2_SINGLE",
    "Encoding",
    "Measure",
    "encoding_of",
    "measure",
]
