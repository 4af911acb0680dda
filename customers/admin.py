"""Billing profiles in the admin: operators edit them; the save goes through the service."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from arcadia_cloud.admin_helpers import admin_actor
from arcadia_cloud.validation import FieldError
from customers.models import BillingProfile
from customers.services import billing_profile_save
from customers.validation import clean_abn, clean_billing_emails, format_abn


class BillingProfileForm(forms.ModelForm):
    billing_emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One address per line (issued invoices and notes are emailed there).",
    )

    class Meta:
        model = BillingProfile
        fields = (
            "tenant_id",
            "legal_name",
            "abn",
            "address",
            "billing_emails",
            "payment_terms_days",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["billing_emails"] = "\n".join(self.instance.billing_emails)

    def clean_abn(self):
        try:
            return clean_abn("abn", self.cleaned_data.get("abn") or "")
        except FieldError as exc:
            raise ValidationError(exc.message) from None

    def clean_billing_emails(self):
        lines = [line for line in (self.cleaned_data.get("billing_emails") or "").split() if line]
        try:
            return clean_billing_emails("billing_emails", lines)
        except FieldError as exc:
            raise ValidationError(exc.message) from None


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    form = BillingProfileForm
    list_display = ("tenant_id", "legal_name", "abn_grouped", "payment_terms_days", "updated_at")
    search_fields = ("=tenant_id", "legal_name", "=abn")
    readonly_fields = ("created_at", "updated_at", "updated_by")

    @admin.display(description="ABN", ordering="abn")
    def abn_grouped(self, profile: BillingProfile) -> str:
        return format_abn(profile.abn)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a profile is edited, never deleted (documents froze their own copy)

    def save_model(self, request, obj, form, change):
        saved = billing_profile_save(
            tenant_id=obj.tenant_id,
            legal_name=obj.legal_name,
            abn=obj.abn,
            address=obj.address,
            billing_emails=obj.billing_emails,
            payment_terms_days=obj.payment_terms_days,
            actor=admin_actor(request),
        )
        obj.pk = saved.pk
