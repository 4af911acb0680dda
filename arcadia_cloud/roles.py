"""Staff groups for the admin and the permissions each one holds.

`operators` can do everything in the product's apps; `finance` can view invoices and provider
costs, mark invoices paid and export. The groups are created by a migration; their permissions
are re-synced after every migrate, so they fill in as new models (and permissions) arrive.
"""

from __future__ import annotations

OPERATORS = "operators"
FINANCE = "finance"

OPERATOR_APPS = (
    "arcadia_cloud",
    "inventory",
    "billing",
    "catalog",
    "customers",
    "deployments",
    "invoicing",
    "analytics",
    "drift",
    "dunning",
    "webhooks",
    "django_celery_beat",
)
FINANCE_VIEW_APPS = ("invoicing", "billing", "analytics", "catalog", "customers", "dunning")
# Custom permissions (declared in model Meta) finance also holds, as "app_label.codename".
FINANCE_EXTRA_PERMISSIONS = (
    "invoicing.mark_invoice_paid",
    "invoicing.export_invoices",
    # Finance issues adjustment notes (never voids invoices) and delivers documents again.
    "invoicing.create_credit_note",
    "invoicing.push_receivable",
    "invoicing.resend_document_email",
)


def sync_group_permissions(sender=None, **kwargs) -> None:
    """post_migrate hook: give each group exactly the permissions its rule names."""
    from django.contrib.auth.models import Group, Permission

    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    finance, _ = Group.objects.get_or_create(name=FINANCE)

    operators.permissions.set(Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS))

    finance_perms = list(
        Permission.objects.filter(
            content_type__app_label__in=FINANCE_VIEW_APPS, codename__startswith="view_"
        )
    )
    for dotted in FINANCE_EXTRA_PERMISSIONS:
        app_label, codename = dotted.split(".", 1)
        finance_perms.extend(
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
    finance.permissions.set(finance_perms)
