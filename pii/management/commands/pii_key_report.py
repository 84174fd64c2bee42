from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from pii.services import key_versions_in_use
from problems.exceptions import DomainError
from tenants.services import tenant_get


class Command(BaseCommand):
    help = (
        "Report which key versions are still in use (Transit wrapping and tenant keys); with "
        "--tenant, also how many of that organization's values each data-key version seals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Also count this organization's sealed values.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["tenant"]:
            try:
                tenant = tenant_get(options["tenant"])
            except DomainError as exc:
                raise CommandError(exc.detail) from exc
            with tenant_context(tenant):
                report = key_versions_in_use()
        else:
            report = key_versions_in_use()
        self.stdout.write("Transit key versions wrapping tenant keys:")
        for name, version, count in report["transit"]:
            self.stdout.write(f"  {name} v{version}: {count} tenant key(s)")
        self.stdout.write("Tenant key versions:")
        for purpose, version, count in report["tenant"]:
            self.stdout.write(f"  {purpose} v{version}: {count} tenant(s)")
        if options["tenant"]:
            self.stdout.write(f"Values of {options['tenant']} by data key version:")
            for label, version, count in report["values"]:
                self.stdout.write(f"  {label} v{version}: {count} value(s)")
