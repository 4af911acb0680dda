"""OpenAPI description of the API's bearer-JWT authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ArcadiaJWTScheme(OpenApiAuthenticationExtension):
    target_class = "arcadia_cloud.auth.ArcadiaJWTAuthentication"
    name = "bearerJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "HS512/HS256 JWT from arcadia-app with sub, tenant_id, roles and exp. "
            "Locally: `manage.py mint_token --tenant T --role R`.",
        }
