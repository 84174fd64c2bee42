"""`manage.py billing_reconcile`: repair what lost webhooks left wrong (also run nightly)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import Provider
from billing.services.reconcile import subscriptions_reconcile


class Command(BaseCommand):
    help = (
        "Fetch every subscription (and its invoices) from its payment provider, apply what "
        "the provider says now, and report what was repaired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--provider",
            choices=[code for code in Provider.values if code != Provider.MANUAL],
            help="Only the subscriptions at this provider.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = subscriptions_reconcile(provider=options.get("provider"))
        for repair in report.repairs:
            changes = ", ".join(
                f"{name} {old} -> {new}" for name, (old, new) in repair.changes.items()
            )
            parts = [part for part in (changes,) if part]
            if repair.invoices_added:
                parts.append("invoices added: " + ", ".join(repair.invoices_added))
            if repair.invoices_changed:
                parts.append("invoices updated: " + ", ".join(repair.invoices_changed))
            self.stdout.write(
                f"repaired {repair.organization} ({repair.provider} "
                f"{repair.subscription_id}): {'; '.join(parts)}"
            )
        for organization, error in report.failures:
            self.stderr.write(f"failed {organization}: {error}")
        self.stdout.write(
            f"{report.checked} subscriptions checked, {len(report.repairs)} repaired, "
            f"{len(report.failures)} failed"
        )
        if report.failures:
            raise CommandError(f"{len(report.failures)} subscriptions could not be reconciled")
