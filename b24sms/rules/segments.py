"""How many SMS parts a text takes: what providers bill, and what the page shows as the text is typed.

The one rule, for the server and the page: the page's script (static/costs.js) gets `RULE` from here (embedded in
the page as JSON) and counts with it the same way `measure` does.
- A text of GSM-7 characters only is GSM-7: one segment up to 160 units, else 153 units a segment; the extension
  characters (`^{}\\[~]|€` and the form feed) take two units each.
- Anything else (Cyrillic, emoji) is UCS-2: one segment up to 70 units, else 67 a segment, where a unit is a UTF-16
  code unit (a character beyond the Basic Multilingual Plane, most emoji, takes two).
`characters` counts what the user typed: Unicode code points.
"""
from dataclasses import dataclass
from typing import Any

GSM7_CHARACTERS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION_CHARACTERS = "^{}\\[~]|€\f"
GSM7 = frozenset(GSM7_CHARACTERS)
GSM7_EXTENDED = frozenset(GSM7_EXTENSION_CHARACTERS)

GSM7_ENCODING, UCS2_ENCODING = "gsm7", "ucs2"
# encoding -> (units in a one-segment text, units a segment of a longer one)
LIMITS = {GSM7_ENCODING: (160, 153), UCS2_ENCODING: (70, 67)}


@dataclass(frozen=True)
class Length:
    characters: int
    encoding: str  # "gsm7" or "ucs2"
    segments: int

    def as_json(self) -> dict[str, Any]:
        return {"characters": self.characters, "encoding": self.encoding, "segments": self.segments}


def measure(text: str) -> Length:
    """The characters, the encoding and the segments of `text`."""
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        encoding = GSM7_ENCODING
        units = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
    else:
        encoding = UCS2_ENCODING
        units = sum(2 if ord(char) > 0xFFFF else 1 for char in text)
    single, part = LIMITS[encoding]
    return Length(characters=len(text), encoding=encoding, segments=1 if units <= single else -(-units // part))


def segments(text: str) -> int:
    """How many SMS parts the text takes (see the module's docstring)."""
    return measure(text).segments


# What the page's script counts with: the same sets and limits (static/costs.js).
RULE = {
    "gsm7": GSM7_CHARACTERS,
    "gsm7_extension": GSM7_EXTENSION_CHARACTERS,
    "limits": {encoding: list(limits) for encoding, limits in LIMITS.items()},
}
