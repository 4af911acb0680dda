from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.auth import mint_token


class Command(BaseCommand):
    help = "Print a signed API token for local use (what arcadia-app would issue)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant_id claim: a UUID or a slug")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            help="a role (repeatable): platform_admin, llm_gateway, or any tenant role",
        )
        parser.add_argument("--sub", default=None, help="subject claim (default local:<tenant>)")
        parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
        parser.add_argument("--algorithm", choices=["HS512", "HS256"], default="HS512")

    def handle(self, *args, tenant, role, sub, ttl, algorithm, **options):
        if ttl <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        if not tenant.strip():
            raise CommandError("--tenant must not be empty")
        token = mint_token(
            tenant_id=tenant.strip(), roles=role, sub=sub, ttl_seconds=ttl, algorithm=algorithm
        )
        self.stdout.write(token)
