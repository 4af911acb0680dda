from django.apps import AppConfig


class ArcadiaCloudConfig(AppConfig):
    """The project package doubles as the app for shared models (idempotency keys, groups)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "arcadia_cloud"
    verbose_name = "Arcadia Cloud"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # `celery`: the Celery app is loaded here, not by importing the package, so every process
        # running Django sends tasks through it while `arcadia_cloud.money` stays pure.
        # `schema`: registers the OpenAPI auth extension.
        from arcadia_cloud import celery, schema  # noqa: F401
        from arcadia_cloud.admin_helpers import guard_every_changelist
        from arcadia_cloud.roles import sync_group_permissions

        # django.contrib.admin comes first in INSTALLED_APPS: its ready() has already loaded every
        # app's admin module, so every ModelAdmin is registered by now.
        guard_every_changelist()

        post_migrate.connect(
            sync_group_permissions, sender=self, dispatch_uid="arcadia_sync_group_permissions"
        )
