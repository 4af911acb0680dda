"""API routes of the invoicing app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from invoicing.api.quote_views import QuoteView
from invoicing.api.views import LLMUsageView

app_name = "invoicing"

urlpatterns = [
    path("integrations/llm-usage", LLMUsageView.as_view(), name="llm-usage"),
    path("quote", QuoteView.as_view(), name="quote"),
]
