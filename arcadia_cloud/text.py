"""Text the application can store and send back: no NUL, no lone surrogates.

PostgreSQL text and jsonb cannot hold U+0000, and a lone surrogate (U+D800 to U+DFFF) is not
Unicode text at all: it has no UTF-8 form, so it fails the database driver and every JSON or
HTML encoder. Either one reaching those layers was a 500. Input is checked with `text_problem`
where it enters — the JSON parser (every string and key of a body), token claims, the request
path and query — and `printable` shows offending text in a message without re-raising the fault.
"""

from __future__ import annotations


def text_problem(value: str) -> str | None:
    """Why `value` is not storable text, or None when it is."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which text may not contain"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone surrogate (U+{ord(value[exc.start]):04X}), which is not valid "
            "Unicode text; send characters, not halves of UTF-16 pairs"
        )
    return None


def printable(value: str) -> str:
    """`value` as it can be quoted in a message: lone surrogates and NUL escaped."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
