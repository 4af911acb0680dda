"""API routes of the catalog app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path  # noqa: F401

app_name = "catalog"

urlpatterns: list = []
