"""Read-only lists rendered from `values()` rows instead of serializer instances.

On the API's large lists (inventory, invoices) DRF's field machinery — a model instance per row
and per related row, then every field's `to_representation` — cost more than the rest of the
request together (docs/performance.md, "API under load"). A view mixing in `RowsListMixin`
reads only the columns its body prints (`row_fields`, one `values()` query through the usual
filters, scope and pagination) and builds each item as a plain dict (`render_rows`). Its
`serializer_class` stays the contract: the OpenAPI schema and the detail view use it, and a test
per list asserts the rows render exactly as the serializer renders the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class RowsListMixin:
    """A list view that reads `row_fields` as `values()` rows and builds its items with its own
    `render_rows(rows) -> list[dict]` (every class using the mixin must define it)."""

    row_fields: Sequence[str] = ()
    render_rows: Callable[[Any, list[dict[str, Any]]], list[dict[str, Any]]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "render_rows", None)):
            raise TypeError(f"{cls.__name__} uses RowsListMixin without defining render_rows")

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset()).values(*self.row_fields)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.render_rows(page))
