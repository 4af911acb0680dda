from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks for tenant apps"
    default_auto_field = "django.db.models.BigAutoField"
