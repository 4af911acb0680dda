"""Request parsing for the LLM usage endpoint."""

from __future__ import annotations

import codecs
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json


class ExactJSONParser(JSONParser):
    """JSON whose fractional numbers become Decimal, read from the digits as sent.

    The gateway may send a charge as a JSON number (0.1); a float would turn it into
    0.1000000000000000055…, so the number's text is parsed as a Decimal instead and stays
    exactly 0.1. NaN and Infinity are refused, as by DRF's own parser.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
