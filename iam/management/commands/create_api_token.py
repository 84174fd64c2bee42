from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.models import User
from iam.services import api_token_create
from problems.exceptions import DomainError
from tenants.services import tenant_get


class Command(BaseCommand):
    help = "Create a personal API token for a member of a tenant; prints only the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")
        parser.add_argument("--email", required=True, help="The member's e-mail address.")
        parser.add_argument("--name", default="Command-line token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_get(options["tenant"])
            user = User.objects.filter(email__iexact=options["email"].strip()).first()
            if user is None:
                raise CommandError(f"No user with e-mail {options['email']!r}.")
            _, raw = api_token_create(user=user, tenant=tenant, name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(raw)
