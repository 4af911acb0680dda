from django.conf import settings
from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthView(APIView):
    """Liveness and database reachability, for load balancers and compose healthchecks."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "service": serializers.CharField(),
                "version": serializers.CharField(),
                "database": serializers.ChoiceField(choices=["ok", "unreachable"]),
            },
        ),
        auth=[],
    )
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = "ok"
        except DatabaseError:
            database = "unreachable"
        body = {"service": "arcadia-cloud", "version": settings.VERSION, "database": database}
        return Response(body, status=200 if database == "ok" else 503)


class WhoAmIView(APIView):
    """The identity the API sees in the caller's token: for tenant apps checking their setup."""

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {
                "sub": serializers.CharField(),
                "tenant_id": serializers.CharField(),
                "roles": serializers.ListField(child=serializers.CharField()),
                "is_platform_admin": serializers.BooleanField(),
            },
        )
    )
    def get(self, request):
        principal = request.user
        return Response(
            {
                "sub": principal.id,
                "tenant_id": principal.tenant_id,
                "roles": sorted(principal.roles),
                "is_platform_admin": principal.is_platform_admin,
            }
        )
