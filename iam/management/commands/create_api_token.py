import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from iam.models import User
from iam.token_scopes import ALL_SCOPES, FULL_SCOPES
from iam.tokens import api_token_create
from problems.exceptions import DomainError, InvalidFields
from tenants.services import tenant_get


class Command(BaseCommand):
    help = (
        "Create a personal API token for a member of a tenant; prints only the token. "
        "Without --scope it may do everything the member may; without --expires-in-days "
        "it never expires."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")
        parser.add_argument("--email", required=True, help="The member's e-mail address.")
        parser.add_argument("--name", default="Command-line token")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=ALL_SCOPES,
            help="A scope, e.g. deal:read (repeat for several).",
        )
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expires_in_days"]
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            tenant = tenant_get(options["tenant"])
            user = User.objects.filter(email__iexact=options["email"].strip()).first()
            if user is None:
                raise CommandError(f"No user with e-mail {options['email']!r}.")
            _, raw = api_token_create(
                user=user,
                tenant=tenant,
                name=options["name"],
                scopes=options["scopes"] or FULL_SCOPES,
                expires_at=expires_at,
            )
        except InvalidFields as exc:
            raise CommandError(str(exc.errors)) from exc
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(raw)
