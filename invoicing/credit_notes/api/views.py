"""Adjustment notes API: tenants list and read their own notes (and their PDFs); a
platform_admin issues them against an invoice. Scoping happens in TenantScopedMixin."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import IsPlatformAdmin, TenantScopedMixin
from invoicing.credit_notes.api.serializers import (
    CreditNoteCreateSerializer,
    CreditNoteSerializer,
)
from invoicing.credit_notes.selectors import credit_notes_list
from invoicing.credit_notes.services import credit_note_issue
from invoicing.documents.api import PDF_RESPONSES, DocumentResponseMixin
from invoicing.documents.render import note_context
from invoicing.invoices.selectors import visible_to_tenant
from invoicing.models import TenantInvoice


@extend_schema(tags=["credit notes"])
class CreditNoteListView(TenantScopedMixin, generics.ListAPIView):
    """The caller's adjustment notes, newest first (a platform_admin: everyone's)."""

    serializer_class = CreditNoteSerializer

    def get_queryset(self):
        return self.scope_queryset(credit_notes_list())


@extend_schema(tags=["credit notes"])
class CreditNoteDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    serializer_class = CreditNoteSerializer

    def get_queryset(self):
        return self.scope_queryset(credit_notes_list())


@extend_schema(tags=["credit notes"])
class CreditNotePdfView(DocumentResponseMixin, TenantScopedMixin, generics.GenericAPIView):
    """The adjustment note as a PDF."""

    def get_queryset(self):
        return self.scope_queryset(credit_notes_list())

    @extend_schema(responses=PDF_RESPONSES)
    def get(self, request, pk: int):
        return self.pdf_response(note_context(self.get_object()))


@extend_schema(tags=["credit notes"])
class InvoiceCreditNotesView(TenantScopedMixin, generics.GenericAPIView):
    """Issue an adjustment note against an issued or paid invoice (platform_admin)."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = CreditNoteSerializer

    def get_queryset(self):
        return self.scope_queryset(TenantInvoice.objects.all())

    def filter_to_tenant(self, queryset, tenant_id):
        return visible_to_tenant(queryset, tenant_id)

    @extend_schema(
        request=CreditNoteCreateSerializer,
        responses={
            201: CreditNoteSerializer,
            400: OpenApiResponse(description="A field is wrong (unknown line, amount...), named."),
            403: OpenApiResponse(description="Not a platform_admin token."),
            404: OpenApiResponse(description="No such invoice."),
            409: OpenApiResponse(description="More than what remains creditable (line named)."),
            422: OpenApiResponse(description="The invoice is a draft or void."),
        },
    )
    def post(self, request, pk: int):
        data = parse_input(CreditNoteCreateSerializer, request.data)
        lines = data.get("lines")
        note = credit_note_issue(
            invoice=self.get_object(),
            reason=data["reason"],
            settlement=data["settlement"],
            lines=[dict(line) for line in lines] if lines is not None else None,
            refund_reference=data["refund_reference"],
            refunded_on=data["refunded_on"],
            actor=request.user.actor,
        )
        fresh = credit_notes_list().get(pk=note.pk)
        return Response(CreditNoteSerializer(fresh).data, status=status.HTTP_201_CREATED)
