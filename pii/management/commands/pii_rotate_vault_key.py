from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pii.services import vault_key_rotate, wrapped_keys_rewrap


class Command(BaseCommand):
    help = (
        "Rotate the Vault Transit keys that wrap tenant keys, rewrap every stored key under the "
        "new versions and destroy the older ones. No field value is re-encrypted and nothing "
        "stops serving."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rewrap-only", action="store_true", help="Only rewrap (e.g. after an interruption)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rewrap_only"]:
            self.stdout.write(f"rewrapped {wrapped_keys_rewrap()} tenant key(s)")
            return
        rotated, count = vault_key_rotate()
        self.stdout.write(
            f"rotated {rotated} Transit key(s); rewrapped {count} tenant key(s) under the new "
            "versions and destroyed the older ones"
        )
