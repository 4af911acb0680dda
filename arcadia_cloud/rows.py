"""Read-only lists rendered from `values()` rows instead of serializer instances.

On the API's large lists (inventory, invoices) DRF's field machinery — a model instance per row
and per related row, then every field's `to_representation` — cost more than the rest of the
request together (docs/performance.md, "API under load"). A view mixing in `RowsListMixin`
reads only the columns its body prints (`row_fields`, one `values()` query through the usual
filters, scope and pagination) and builds each item as a plain dict (`render_rows`). Its
`serializer_class` stays the contract: the OpenAPI schema and the detail view use it, and a test
per list asserts the rows render exactly as the serializer renders the same objects.

A keyset-paged list may also define `read_page(filters, page)`: the same page read by its
hand-written SQL (arcadia_cloud.sql) from the filter set's cleaned values, used on PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.http import QueryDict
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend

from arcadia_cloud.sql import hand_sql_enabled


class RowsListMixin:
    """A list view that reads `row_fields` as `values()` rows and builds its items with its own
    `render_rows(rows) -> list[dict]` (every class using the mixin must define it)."""

    row_fields: Sequence[str] = ()
    row_model: Any = None  # the model `read_page` reads (its keyset columns are this table's)
    render_rows: Callable[[Any, list[dict[str, Any]]], list[dict[str, Any]]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "render_rows", None)):
            raise TypeError(f"{cls.__name__} uses RowsListMixin without defining render_rows")

    def list(self, request, *args, **kwargs):
        read_page = getattr(self, "read_page", None)
        if read_page is not None and hand_sql_enabled():
            filters = self.cleaned_filters()
            page = self.paginator.paginate_rows(
                lambda keyset: read_page(filters, keyset), request, self, self.row_model
            )
        else:
            queryset = self.filter_queryset(self.get_queryset()).values(*self.row_fields)
            page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.render_rows(page))

    def cleaned_filters(self) -> dict[str, Any]:
        """The query string as the view's filter set cleans it, or the 400 it gives: the
        hand-written read takes the same parameters, checked the same way. A filter set whose
        form is request-independent (arcadia_cloud.filtering) cleans a query string the same
        every time, so its result is kept per query string (`_cleaned_query`)."""
        backend = DjangoFilterBackend()
        none = self.row_model._default_manager.none()
        filterset_class = backend.get_filterset_class(self, none)
        if filterset_class is None:
            return {}
        independent = getattr(filterset_class, "forms_are_request_independent", None)
        if independent is not None and independent():
            paginator = self.paginator
            paging = (paginator.cursor_query_param, paginator.page_size_query_param)
            query = self.request.query_params
            items = tuple(
                (name, tuple(query.getlist(name))) for name in sorted(query) if name not in paging
            )
            return dict(_cleaned_query(filterset_class, self.row_model, items))
        filterset = backend.get_filterset(self.request, none, self)
        return _cleaned_or_400(filterset)


def _cleaned_or_400(filterset) -> dict[str, Any]:
    if not filterset.is_valid():
        raise filter_utils.translate_validation(filterset.errors)
    return filterset.form.cleaned_data


@functools.lru_cache(maxsize=1024)
def _cleaned_query(filterset_class, model, items: tuple[tuple[str, tuple[str, ...]], ...]) -> dict:
    """What a request-independent filter set cleans these query parameters to (a refusal
    raises through and is never kept). The values are immutable (numbers, text, dates)."""
    data = QueryDict(mutable=True)
    for name, values in items:
        data.setlist(name, list(values))
    return _cleaned_or_400(filterset_class(data, model._default_manager.none()))
