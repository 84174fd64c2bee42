from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from pii.services import tenant_key_rotate, values_reseal
from problems.exceptions import DomainError
from tenants.services import tenant_get


class Command(BaseCommand):
    help = (
        "Give an organization a new data key, then re-encrypt its values under it in batches "
        "(reads and writes keep working throughout; rerun `pii_reencrypt` to resume)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organization's slug.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-reencrypt", action="store_true", help="Only add the key version.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_get(options["tenant"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        version = tenant_key_rotate(tenant_id=tenant.pk)
        self.stdout.write(f"{tenant.slug}: data key version {version} is now current")
        if options["no_reencrypt"]:
            return
        with tenant_context(tenant):
            for label, done in values_reseal(batch_size=options["batch_size"]):
                self.stdout.write(f"{tenant.slug}: {label} {done} row(s) re-encrypted")
        self.stdout.write(f"{tenant.slug}: every value is under key version {version}")
