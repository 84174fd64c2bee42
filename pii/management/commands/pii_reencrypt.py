from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import tenant_context

from pii.services import values_reseal
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Bring every encrypted value under its tenant's current data key: encrypt values "
        "stored before encryption and re-encrypt values sealed with older keys, tenant by "
        "tenant, in batches; and index the words of e-mail addresses saved before search "
        "indexed them. Safe to interrupt and run again: it continues where it stopped."
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
                for label, done in values_reseal(batch_size=options["batch_size"]):
                    self.stdout.write(f"{tenant.slug}: {label} {done} row(s) re-encrypted")
                    sealed = done
            if not sealed:
                self.stdout.write(f"{tenant.slug}: everything is under the current key")
