from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pii.services import transit_keys_orphaned_delete


class Command(BaseCommand):
    help = (
        "Delete the Vault Transit keys that wrap nothing any more: those of organizations "
        "whose deletion could not reach Vault, and the formerly shared wrapping key once no "
        "organization uses it. Run it daily (and after a Vault outage)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=3600.0,
            help="Leave keys younger than this many seconds alone (default: an hour).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = transit_keys_orphaned_delete(older_than=options["older_than"])
        for name in deleted:
            self.stdout.write(f"deleted Transit key {name}")
        self.stdout.write(f"{len(deleted)} orphaned Transit key(s) deleted")
