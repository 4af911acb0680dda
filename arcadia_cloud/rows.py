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

from collections.abc import Callable, Sequence
from typing import Any

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
        hand-written read takes the same parameters, checked the same way. A query string with
        no parameter but the paginator's cleans as an empty one does: that result is kept per
        filter set class whose form is request-independent (arcadia_cloud.filtering)."""
        backend = DjangoFilterBackend()
        none = self.row_model._default_manager.none()
        unfiltered = self._paging_parameters().issuperset(self.request.query_params.keys())
        if unfiltered:
            kept = backend.get_filterset_class(self, none).__dict__.get("_unfiltered")
            if kept is not None:
                return dict(kept)
        filterset = backend.get_filterset(self.request, none, self)
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        cleaned = filterset.form.cleaned_data
        if unfiltered and filterset.request_independent:
            type(filterset)._unfiltered = dict(cleaned)
        return cleaned

    def _paging_parameters(self) -> set[str]:
        paginator = self.paginator
        return {paginator.cursor_query_param, paginator.page_size_query_param}
