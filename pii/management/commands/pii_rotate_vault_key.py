from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pii.services import vault_key_rotate, wrapped_keys_rewrap


class Command(BaseCommand):
    help = (
        "Rotate the Vault Transit key that wraps tenant keys and rewrap every stored key under "
        "the new version. No field value is re-encrypted and nothing stops serving."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rewrap-only", action="store_true", help="Only rewrap (e.g. after an interruption)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rewrap_only"]:
            self.stdout.write(f"rewrapped {wrapped_keys_rewrap()} tenant key(s)")
            return
        version, count = vault_key_rotate()
        self.stdout.write(f"Transit key now at version {version}; rewrapped {count} tenant key(s)")
