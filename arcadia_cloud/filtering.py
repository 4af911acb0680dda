"""The API's FilterSet base for the hot lists: django-filter's, without its per-request rebuild.

django-filter deep-copies every filter of the class for each request (`copy.deepcopy` of the
filters, their options and their form fields) and then builds a new form class, with a new
form field per filter, to validate the query string: on the inventory list that was a quarter
of the request's CPU (docs/performance.md, "API under load"). Here a request gets shallow
copies of the class's filters, each bound to it (its `parent`, and a `method=` filter's proxy
re-bound to the copy), the form class is built once per FilterSet class, and its forms share the
class's field objects instead of deep-copying them (`_SharedFields`: they only validate).
Filters whose form field depends on the request (django-filter's queryset-from-request filters)
keep the per-request form class.
"""

from __future__ import annotations

import copy

from django.http import QueryDict
from django_filters import rest_framework as filters
from django_filters.filters import QuerySetRequestMixin


class FilterSet(filters.FilterSet):
    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # As django-filter's BaseFilterSet.__init__, with shallow copies of the filters.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            bound = copy.copy(base)
            if base.method is not None:
                bound.method = base.method  # its FilterMethod now resolves through the copy
            bound.model = queryset.model
            bound.parent = self
            self.filters[name] = bound

    @classmethod
    def forms_are_request_independent(cls) -> bool:
        """Whether the form cleans a query string the same whoever asks and whenever: no
        filter whose form field depends on the request or reads the database (django-filter's
        model-choice filters are `QuerySetRequestMixin` filters; a filter of this project with
        such a field must be one too). Then the form class is kept, and what a query string
        cleans to may be (arcadia_cloud.rows)."""
        return not any(isinstance(each, QuerySetRequestMixin) for each in cls.base_filters.values())

    def get_form_class(self):
        cls = type(self)
        cached = cls.__dict__.get("_form_class")
        if cached is not None:
            return cached
        form_class = super().get_form_class()
        if self.forms_are_request_independent():
            form_class.base_fields = _SharedFields(form_class.base_fields)
            cls._form_class = form_class
        return form_class


class _SharedFields(dict):
    """A cached form class's fields, handed to each of its forms as they are.

    A Django form deep-copies its class's fields (and their widgets) so that rendering one form
    cannot change another; these forms only ever validate a query string — nothing renders
    them or changes a field — and a field's `clean` keeps no state, so every form may share
    the class's field objects (the copy was a tenth of an inventory request's CPU)."""

    def __deepcopy__(self, memo):
        return dict(self)
