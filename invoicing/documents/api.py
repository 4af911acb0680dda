"""What the document endpoints share: the HTML or PDF answer, JSON errors whatever was asked."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.renderers import JSONRenderer

from invoicing.documents.render import PDF_CONTENT_TYPE, pdf_filename, render_html, render_pdf

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
NOT_FOUND = OpenApiResponse(description="No such document (or not yours).")
PDF_RESPONSES = {
    (200, PDF_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
    404: NOT_FOUND,
}
HTML_RESPONSES = {
    (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="The HTML document."),
    404: NOT_FOUND,
}


class DocumentResponseMixin:
    """A document view answers a plain Django response; its errors stay the JSON envelope."""

    pagination_class = None

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def html_response(self, context: dict) -> HttpResponse:
        return HttpResponse(render_html(context), content_type=HTML_CONTENT_TYPE)

    def pdf_response(self, context: dict) -> HttpResponse:
        response = HttpResponse(render_pdf(context), content_type=PDF_CONTENT_TYPE)
        response["Content-Disposition"] = f'inline; filename="{pdf_filename(context)}"'
        return response
