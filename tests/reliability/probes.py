"""The outside probe's request classes (issue 14), as Hypothesis strategies over generated cases.

Schemathesis generates requests from the schema; it does not think of declaring a body's
charset as `zlib_codec`, nesting a body 3,000 levels deep, putting a lone surrogate or a NUL in
a key, or sending a price beyond its column. Each probe here takes a case the schema generator
made (positive: valid but for the one defect the probe adds) and turns it into such a request:

- `charset`: the body in a charset other than UTF-8 — compressed (zlib, bz2), transformed
  (base64, hex, uu, rot13), other text encodings, unknown names (415);
- `depth`: the body, or one of its values, nested past the parser's limit (400);
- `bad_text`: a lone surrogate or a NUL in one of the body's values or keys (400);
- `huge_integer`: one of the body's values replaced by an integer no column holds, or a number
  no integer parse takes (400, or accepted where any JSON is);
- `nul_parameter`, `huge_parameter`: the same in a path or query parameter (400 or 404).

Every response must still be non-5xx and documented (the fuzzer's usual checks).
"""

from __future__ import annotations

import bz2
import codecs
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from schemathesis.core import NotSet

from arcadia_cloud.parsing import MAX_JSON_DEPTH

PLACEHOLDER = "\x1farcadia-probe\x1f"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ProbeRequest:
    """What to send instead of the generated body: raw bytes with their Content-Type."""

    body: bytes
    content_type: str


Probe = Callable[[Any, st.DataObject], ProbeRequest | None]


def _encoded_json(body: Any) -> str:
    return json.dumps(body, default=str)  # ASCII: lone surrogates and NUL are \u-escaped


CHARSETS: dict[str, Callable[[str], bytes]] = {
    "zlib_codec": lambda text: zlib.compress(text.encode()),
    "bz2_codec": lambda text: bz2.compress(text.encode()),
    "base64_codec": lambda text: codecs.encode(text.encode(), "base64"),
    "hex": lambda text: text.encode().hex().encode(),
    "uu_codec": lambda text: codecs.encode(text.encode(), "uu"),
    "rot13": lambda text: text.encode(),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-32-be": lambda text: text.encode("utf-32-be"),
    "latin-1": lambda text: text.encode(),
    "cp500": lambda text: text.encode("cp500"),
    "no-such-codec": lambda text: text.encode(),
    "": lambda text: text.encode(),
}
HUGE_TOKENS = [
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    str(10**30),
    "9" * 5000,  # past Python's 4300-digit integer parse limit
    "1e400",
    "-1e400",
    "123456789012345678901234567890.123456789",
]
HUGE_PARAMETERS = ["99999999999999999999", "-99999999999999999999", "2147483648", "1e30"]
BAD_TEXT = ["\ud800", "a\udfffb", "\x00", "shop\x00", "\udc80\ud800"]


def charset(case: Any, data: st.DataObject) -> ProbeRequest:
    name = data.draw(st.sampled_from(list(CHARSETS)), label="charset")
    return ProbeRequest(
        CHARSETS[name](_encoded_json(_body(case))), f"application/json; charset={name}"
    )


def depth(case: Any, data: st.DataObject) -> ProbeRequest:
    levels = data.draw(st.integers(MAX_JSON_DEPTH + 1, 3000), label="depth")
    opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"a":', "}")]), label="shape")
    nested = opener * levels + ("1" if opener != "[" else "") + closer * levels
    return _json(_with_token(_body(case), nested, data))


def bad_text(case: Any, data: st.DataObject) -> ProbeRequest:
    text = data.draw(st.sampled_from(BAD_TEXT), label="text")
    body = _body(case)
    if isinstance(body, dict) and data.draw(st.booleans(), label="as a key"):
        return _json(_encoded_json({**body, text: "x"}))
    return _json(_with_token(body, json.dumps(text), data))


def huge_integer(case: Any, data: st.DataObject) -> ProbeRequest:
    token = data.draw(st.sampled_from(HUGE_TOKENS), label="number")
    return _json(_with_token(_body(case), token, data, prefer=int))


def nul_parameter(case: Any, data: st.DataObject) -> None:
    _set_parameter(case, data, data.draw(st.sampled_from(["\x00", "a\x00b"]), label="value"))


def huge_parameter(case: Any, data: st.DataObject) -> None:
    _set_parameter(case, data, data.draw(st.sampled_from(HUGE_PARAMETERS), label="value"))


BODY_PROBES: dict[str, Probe] = {
    "charset": charset,
    "depth": depth,
    "bad_text": bad_text,
    "huge_integer": huge_integer,
}
PARAMETER_PROBES: dict[str, Probe] = {
    "nul_parameter": nul_parameter,
    "huge_parameter": huge_parameter,
}


def probes_for(operation: Any) -> dict[str, Probe]:
    """The probes that have something to act on in `operation`."""
    chosen: dict[str, Probe] = {}
    if any("json" in alternative.media_type for alternative in operation.body):
        chosen |= BODY_PROBES
    elif operation.method.upper() in WRITE_METHODS:
        chosen["charset"] = charset  # a body where none is taken, in a charset we do not read
    if list(operation.path_parameters) or list(operation.query):
        chosen |= PARAMETER_PROBES
    return chosen


def _body(case: Any) -> Any:
    """The generated body (an operation whose body is optional may have been sent none)."""
    return {} if isinstance(case.body, NotSet) else case.body


def _json(text: str) -> ProbeRequest:
    return ProbeRequest(text.encode(), "application/json")  # json.dumps wrote ASCII only


def _with_token(body: Any, token: str, data: st.DataObject, prefer: type | None = None) -> str:
    """`body` as JSON text with one of its scalar values (one of type `prefer`, if any) — or,
    without any, the whole body — replaced by the raw JSON text `token`."""
    leaves = list(_leaves(body, ()))
    preferred = [path for path, value in leaves if prefer and _is(value, prefer)]
    candidates = preferred or [path for path, _ in leaves]
    if not candidates:
        return token
    path = candidates[data.draw(st.integers(0, len(candidates) - 1), label="where")]
    replaced = _replace(body, path, PLACEHOLDER)
    return _encoded_json(replaced).replace(json.dumps(PLACEHOLDER), token, 1)


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _leaves(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _set_parameter(case: Any, data: st.DataObject, value: str) -> None:
    names = [("path_parameters", p.name) for p in case.operation.path_parameters]
    names += [("query", p.name) for p in case.operation.query]
    where, name = names[data.draw(st.integers(0, len(names) - 1), label="parameter")]
    getattr(case, where)[name] = value
