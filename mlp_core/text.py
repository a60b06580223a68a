"""Text from files shown on a terminal: labels, notes, run names, error messages.

A label or a folder name is whatever a user (or a hostile file) put there. Printed raw, an
escape sequence in it can clear the screen, retitle the window or hide the rest of a line, so
every front-end shows such text through `printable`.
"""

from __future__ import annotations

import re
import unicodedata

#: ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other ESC X.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, terminated or not
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]?"  # two-byte sequences, and a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
#: Bidirectional overrides and isolates: they reorder what follows them on the line.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def printable(text: str) -> str:
    """`text` without terminal escape sequences or control characters, on one line.

    Newlines and tabs become spaces (a note is shown on one line); every other control
    character (C0, DEL, C1) and bidi override is dropped; ordinary Unicode is kept.
    """
    text = _ESCAPES.sub("", text).translate(_BIDI)
    return "".join(
        " " if char in "\n\r\t" else char
        for char in text
        if char in "\n\r\t" or unicodedata.category(char) != "Cc"
    )
