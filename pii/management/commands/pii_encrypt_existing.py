from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import tenant_context

from pii.services import plaintext_seal
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Encrypt values stored before their fields were encrypted, tenant by tenant, in "
        "batches. Safe to interrupt and run again: it picks up the rows still in plaintext."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this organization's slug.")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.exclude(schema_name="public").order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
        for tenant in tenants:
            sealed = 0
            with tenant_context(tenant):
                for label, done in plaintext_seal(batch_size=options["batch_size"]):
                    self.stdout.write(f"{tenant.slug}: {label} {done} row(s) encrypted")
                    sealed = done
            if not sealed:
                self.stdout.write(f"{tenant.slug}: nothing left in plaintext")
