from typing import Any

from django.core.management.base import BaseCommand

from tenants.snapshot import build_snapshot


class Command(BaseCommand):
    help = "Render the tenant schema DDL snapshot for the current migrations (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        snap = build_snapshot()
        self.stdout.write(
            f"Tenant schema snapshot {snap.key[:12]} ({len(snap.migrations)} migrations)"
        )
