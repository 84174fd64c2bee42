from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from iam.models import User
from iam.services import user_create
from problems.exceptions import DomainError
from tenants.services import provision_tenant, tenant_url


class Command(BaseCommand):
    help = "Provision an organization with its owner; prints the organization's URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument(
            "--owner-password",
            help="Required when the owner does not exist yet.",
        )
        parser.add_argument("--owner-name", default="")
        parser.add_argument(
            "--method",
            choices=["snapshot", "migrations"],
            default="snapshot",
            help="How to build the schema (default: replay the DDL snapshot).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["owner_email"].strip().lower()
        try:
            with transaction.atomic():
                owner = User.objects.filter(email__iexact=email).first()
                if owner is None:
                    if not options["owner_password"]:
                        raise CommandError("--owner-password is required for a new owner.")
                    owner = user_create(
                        email=email,
                        password=options["owner_password"],
                        full_name=options["owner_name"],
                    )
                tenant = provision_tenant(
                    slug=options["slug"],
                    name=options["name"],
                    owner=owner,
                    method=options["method"],
                )
        except DomainError as exc:
            raise CommandError(f"{exc.title} {exc.detail}") from exc
        self.stdout.write(tenant_url(tenant))
