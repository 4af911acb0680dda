"""API routes of the deployments app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path  # noqa: F401

app_name = "deployments"

urlpatterns: list = []
