"""`manage.py billing_sync_catalog`: make every active price exist at each configured provider."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.exceptions import ProviderError
from billing.services.catalog import catalog_sync, providers_configured


class Command(BaseCommand):
    help = (
        "For each payment provider with credentials, create (or find) every active price "
        "and store its id there; safe to run again. With --local-webhook, also have the "
        "devstack's local Stripe deliver its events to that address."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", choices=("stripe", "paddle"), help="Only this one.")
        parser.add_argument(
            "--local-webhook",
            metavar="URL",
            help="Register URL as the local Stripe's webhook endpoint (ignored for real Stripe).",
        )
        parser.add_argument(
            "--local-paddle-webhook",
            metavar="URL",
            help="Have the Paddle stub send its notifications to URL (ignored for real Paddle).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        codes = providers_configured()
        if options.get("provider"):
            codes = [code for code in codes if code == options["provider"]]
        try:
            for code in codes:
                changed = catalog_sync(provider=code)
                self.stdout.write(f"{code}: prices in step ({changed} newly linked)")
            if options.get("local_webhook") and settings.STRIPE_API_KEY:
                from billing.providers.stripe import register_local_webhook

                if register_local_webhook(url=options["local_webhook"]):
                    self.stdout.write(f"local stripe: webhooks go to {options['local_webhook']}")
            if options.get("local_paddle_webhook") and settings.PADDLE_API_KEY:
                from billing.providers.paddle import register_local_webhook as paddle_webhook

                if paddle_webhook(url=options["local_paddle_webhook"]):
                    self.stdout.write(
                        f"paddle stub: notifications go to {options['local_paddle_webhook']}"
                    )
        except ProviderError as exc:
            raise CommandError(str(exc)) from exc
        if not codes:
            self.stdout.write("no payment provider has credentials; nothing to do")
