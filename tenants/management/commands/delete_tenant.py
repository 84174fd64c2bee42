from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from problems.exceptions import DomainError
from tenants.services import tenant_delete, tenant_get


class Command(BaseCommand):
    help = "Delete an organization: its rows, memberships, tokens and its whole schema."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_get(options["slug"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        if not options["yes"]:
            self.stdout.write(
                f"This drops schema {tenant.schema_name} with all of {tenant.name}'s data."
            )
            answer = input("Type the organization's slug to confirm: ")
            if answer.strip() != tenant.slug:
                raise CommandError("Confirmation did not match; nothing was deleted.")
        tenant_delete(tenant=tenant)
        self.stdout.write(f"Deleted {tenant.slug}.")
