"""A test-only URLconf: the real API plus probe views that exercise the shared machinery
(error envelope, idempotency) independently of any one domain."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud import errors
from arcadia_cloud.validation import FieldError

CALLS = {"count": 0}


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    qty = serializers.IntegerField(min_value=0)


class ProbeWriteView(APIView):
    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        CALLS["count"] += 1
        return Response({"call": CALLS["count"], **serializer.validated_data}, status=201)


class ProbeErrorView(APIView):
    def post(self, request):
        kind = request.data.get("raise")
        if kind == "conflict":
            raise errors.Conflict("already exists", fields={"name": ["taken"]})
        if kind == "state":
            raise errors.InvalidStateChange("cannot go there", extra={"allowed": ["active"]})
        if kind == "missing":
            raise errors.NotFound("no such thing")
        if kind == "field":  # the pure field error, as the pricing kernel raises it
            raise FieldError("usage[llm_tokens]", "must not be negative, got -1")
        return Response({"ok": True})


class ProbeWriteThenFailView(APIView):
    """Writes a row, then answers a server error (as a view that fails after its service)."""

    def post(self, request):
        from catalog.models import Plan

        Plan.objects.create(code=f"probe-{CALLS['count']}", name="written before the 5xx")
        CALLS["count"] += 1
        return Response({"error": "downstream failed"}, status=503)


urlpatterns = [
    path("api/probe/write", ProbeWriteView.as_view()),
    path("api/probe/write-then-fail", ProbeWriteThenFailView.as_view()),
    path("api/probe/error", ProbeErrorView.as_view()),
    path("", include("arcadia_cloud.urls")),
]
