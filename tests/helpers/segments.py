"""Texts whose length the app and the page must measure alike (tests/test_length.py, the costs browser test)."""

# (text, characters, encoding, segments): the boundaries, the extension characters, Cyrillic, emoji.
SEGMENT_TABLE = [
    ("", 0, "gsm7", 1),
    ("Hello", 5, "gsm7", 1),
    ("x" * 160, 160, "gsm7", 1),
    ("x" * 161, 161, "gsm7", 2),
    ("x" * 306, 306, "gsm7", 2),
    ("x" * 307, 307, "gsm7", 3),
    ("€" * 80, 80, "gsm7", 1),  # an extension character takes two units: 160
    ("€" * 81, 81, "gsm7", 2),
    ("x" * 159 + "[", 160, "gsm7", 2),  # 161 units
    ("^{}\\[~]|€", 9, "gsm7", 1),
    ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà", 41, "gsm7", 1),
    ("ж" * 70, 70, "ucs2", 1),
    ("ж" * 71, 71, "ucs2", 2),
    ("ж" * 134, 134, "ucs2", 2),
    ("ж" * 135, 135, "ucs2", 3),
    ("Привет, мир", 11, "ucs2", 1),
    ("x" * 200 + "ж", 201, "ucs2", 3),  # one character outside GSM-7 makes the whole text UCS-2
    ("😀" * 35, 35, "ucs2", 1),  # an emoji is a surrogate pair: two units
    ("😀" * 36, 36, "ucs2", 2),
    ("ж" * 69 + "😀", 70, "ucs2", 2),
    ("ç", 1, "ucs2", 1),  # only the capital Ç is GSM-7
    ("`", 1, "ucs2", 1),
    ("line\nbreak\r", 11, "gsm7", 1),
]
