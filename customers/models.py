"""Tenants as customers: the billing profile a tax invoice names its buyer with.

One row per tenant, written by the tenant (`PUT /api/v1/billing-profile`) or an operator (the
admin). Issued documents never read it again: issuing freezes a copy onto the document
(`invoicing.documents.parties`), so a later edit changes the next document only.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

MAX_PAYMENT_TERMS_DAYS = 365
MAX_BILLING_EMAILS = 10


class BillingProfile(models.Model):
    tenant_id = models.CharField(max_length=200, unique=True)
    legal_name = models.CharField(max_length=200)
    # 11 digits, no spaces (python-stdnum's compact form); blank when the buyer has none.
    abn = models.CharField(max_length=11, blank=True, default="", verbose_name="ABN")
    address = models.TextField(blank=True, default="")
    billing_emails = models.JSONField(
        default=list, blank=True, help_text="Where issued invoices and notes are emailed."
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Days from issue to due date; empty: INVOICE_PAYMENT_TERMS_DAYS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "billing_profiles"
        ordering = ["tenant_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(abn="") | Q(abn__regex=r"^[0-9]{11}$"),
                name="billing_profile_abn_is_11_digits",
            ),
            models.CheckConstraint(
                condition=Q(payment_terms_days__isnull=True)
                | Q(payment_terms_days__lte=MAX_PAYMENT_TERMS_DAYS),
                name="billing_profile_payment_terms_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.legal_name}"
