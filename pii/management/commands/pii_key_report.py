from typing import Any

from django.core.management.base import BaseCommand

from pii.services import key_versions_in_use


class Command(BaseCommand):
    help = "Report which key versions are still in use (Transit wrapping and tenant keys)."

    def handle(self, *args: Any, **options: Any) -> None:
        report = key_versions_in_use()
        self.stdout.write("Transit key versions wrapping tenant keys:")
        for name, version, count in report["transit"]:
            self.stdout.write(f"  {name} v{version}: {count} tenant key(s)")
        self.stdout.write("Tenant key versions:")
        for purpose, version, count in report["tenant"]:
            self.stdout.write(f"  {purpose} v{version}: {count} tenant(s)")
