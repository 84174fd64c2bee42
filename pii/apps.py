from django.apps import AppConfig


class PiiConfig(AppConfig):
    name = "pii"
    verbose_name = "PII encryption"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
