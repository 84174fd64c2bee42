from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.scim.services import scim_token_create
from problems.exceptions import DomainError
from tenants.services import tenant_get


class Command(BaseCommand):
    help = "Create a SCIM token for an organization; prints only the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")
        parser.add_argument("--name", default="Command-line SCIM token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_get(options["tenant"])
            _, raw = scim_token_create(tenant=tenant, by=None, name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(raw)
