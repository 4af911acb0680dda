import base64
import binascii
import datetime as dt
import functools
import json

from django.db import connection
from django.db.models import AutoField, DateField, DateTimeField, IntegerField
from rest_framework.pagination import BasePagination
from rest_framework.pagination import PageNumberPagination as DRFPageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from arcadia_cloud.errors import field_error
from arcadia_cloud.sql import KeysetPage
from arcadia_cloud.text import text_problem


class PageNumberPagination(DRFPageNumberPagination):
    """`?page=N&page_size=M` with a hard ceiling so no request can ask for everything."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_schema_operation_parameters(self, view):
        """DRF's parameters, with the page size's bounds stated (a size outside them is read as
        the default, as DRF does)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                bounds = {"minimum": 1, "maximum": self.max_page_size}
                parameter["schema"] = {**parameter["schema"], **bounds}
        return parameters


class KeysetPagination(BasePagination):
    """`?page_size=M&cursor=…`: keyset pages for the large lists (docs/decisions.md).

    The view names its order (`keyset_ordering`, model fields ending in a unique one, e.g.
    `("kind", "name", "id")`, served by an index in that order; a field may be descending,
    `"-period_start"`). A page is the first `page_size` rows after the cursor's row — `WHERE
    (kind, name, id) > (…) ORDER BY … LIMIT page_size + 1` when every field ascends, the same
    comparison spelt field by field when directions are mixed — so page 500 costs what page 1
    costs, and there is no `COUNT(*)`. The body is `{"next": <url or null>, "results": [...]}`;
    `next` carries the last row's key, opaque to clients (base64 of JSON). A cursor that is not
    one of ours is a 400 naming `cursor`. Rows may be model instances or `values()` dicts.
    """

    page_size = PageNumberPagination.page_size
    page_size_query_param = "page_size"
    max_page_size = PageNumberPagination.max_page_size
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        ordering, size, after = self._begin(request, view, queryset.model)
        queryset = queryset.order_by(*ordering)
        if after is not None:
            # A row comparison, which the ORM cannot spell; the columns are the model's own, the
            # values are parameters.
            queryset = queryset.extra(where=[after[0]], params=after[1])  # noqa: S610
        return self._page(list(queryset[: size + 1]), size)

    def paginate_rows(self, read, request, view, model):
        """`paginate_queryset` for a list read by hand-written SQL (arcadia_cloud.sql):
        `read(page)` returns the rows (dicts keyed by field name) the `KeysetPage` names —
        after the cursor's row, in the view's `keyset_ordering` of `model`'s columns, one more
        than the page holds."""
        ordering, size, after = self._begin(request, view, model)
        order_by = _order_by_sql(model, ordering)
        return self._page(read(KeysetPage(after=after, order_by=order_by, limit=size + 1)), size)

    def _begin(self, request, view, model) -> tuple[tuple[str, ...], int, tuple | None]:
        """The view's order, the page size and the cursor's condition (None on page 1)."""
        ordering = tuple(view.keyset_ordering)
        self.request = request
        self.ordering = tuple(name.lstrip("-") for name in ordering)
        raw = request.query_params.get(self.cursor_query_param)
        after = None
        if raw is not None:
            after = _after(model, ordering, self._decode(raw, model, self.ordering))
        return ordering, self._page_size(request), after

    def _page(self, rows: list, size: int) -> list:
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.last_key = [_key_value(rows[-1], name) for name in self.ordering] if rows else None
        return rows

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last_key is None:
            return None
        url = self.request.build_absolute_uri()
        cursor = base64.urlsafe_b64encode(json.dumps(self.last_key).encode()).decode()
        return replace_query_param(url, self.cursor_query_param, cursor.rstrip("="))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page (null on the last one).",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the `next` link of the previous page.",
                "schema": {"type": "string", "maxLength": 2048},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Rows per page.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]

    def _page_size(self, request) -> int:
        try:
            size = int(request.query_params[self.page_size_query_param])
        except (KeyError, ValueError):
            return self.page_size  # as the page-number lists: an unusable size is the default
        return min(size, self.max_page_size) if size > 0 else self.page_size

    def _decode(self, raw: str, model, ordering: tuple[str, ...]) -> list:
        """The cursor's key, each value checked against its field's type; 400 otherwise."""
        problem = "is not a cursor of this list: use the `next` link of a page"
        try:
            if len(raw) > 2048:
                raise ValueError
            key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, TypeError, binascii.Error):
            raise field_error(self.cursor_query_param, problem) from None
        if not isinstance(key, list) or len(key) != len(ordering):
            raise field_error(self.cursor_query_param, problem)
        values = []
        for value, name in zip(key, ordering, strict=True):
            field = model._meta.get_field(name)
            if field.is_relation:  # a foreign key (`invoice_id`) travels as the key it holds
                field = field.target_field
            is_int = isinstance(field, IntegerField | AutoField)
            if is_int and not (type(value) is int and -(2**63) <= value < 2**63):
                raise field_error(self.cursor_query_param, problem)
            if not is_int and not (isinstance(value, str) and text_problem(value) is None):
                raise field_error(self.cursor_query_param, problem)
            if isinstance(field, DateField):  # a date (or datetime) travels as its ISO text
                parse = dt.datetime if isinstance(field, DateTimeField) else dt.date
                try:
                    value = parse.fromisoformat(value)
                except ValueError:
                    raise field_error(self.cursor_query_param, problem) from None
            values.append(value)
        return values


def _after(model, ordering: tuple[str, ...], key: list) -> tuple[str, list]:
    """SQL for "after the row with this key" in `ordering`: one row comparison when every field
    ascends; otherwise `a < x OR (a = x AND (b > y OR (b = y AND …)))` with each field's own
    direction (a row comparison has one direction)."""
    names = [name.lstrip("-") for name in ordering]
    columns = [_qualified_column(model, name) for name in names]
    if not any(name.startswith("-") for name in ordering):
        placeholders = ", ".join(["%s"] * len(columns))
        return f"({', '.join(columns)}) > ({placeholders})", list(key)
    where, params = "", []
    for column, name, value in reversed(list(zip(columns, ordering, key, strict=True))):
        beyond = f"{column} {'<' if name.startswith('-') else '>'} %s"
        if not where:
            where, params = beyond, [value]
        else:
            where, params = f"{beyond} OR ({column} = %s AND ({where}))", [value, value, *params]
    return f"({where})", params


@functools.lru_cache(maxsize=64)
def _order_by_sql(model, ordering: tuple[str, ...]) -> str:
    """A keyset order as SQL (`-name` descending), built once per list."""
    return ", ".join(
        f"{_qualified_column(model, name.lstrip('-'))} {'DESC' if name[0] == '-' else 'ASC'}"
        for name in ordering
    )


def _qualified_column(model, name: str) -> str:
    quote = connection.ops.quote_name
    return f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(name).column)}"


def _key_value(row, name: str):
    # A values() row is keyed by the field's name, an instance has it under its attname.
    value = row[name] if isinstance(row, dict) else getattr(row, row._meta.get_field(name).attname)
    # A date travels as its ISO text (JSON has no dates); the database compares it as a date.
    return value.isoformat() if hasattr(value, "isoformat") else value
