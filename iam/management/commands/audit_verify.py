from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.audit import chain_verify
from problems.exceptions import DomainError
from tenants.services import tenant_get


class Command(BaseCommand):
    help = (
        "Check an organization's audit log chain: exit 0 when it holds, otherwise exit 1 "
        "naming the first row that was edited or removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_get(options["tenant"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        report = chain_verify(tenant=tenant)
        if not report.holds:
            # CommandError exits with status 1 and prints to stderr.
            raise CommandError(
                f"chain broken at row #{report.broken_seq}: {report.problem} "
                f"({report.count} events before it hold)"
            )
        self.stdout.write(f"chain holds: {report.count} events")
