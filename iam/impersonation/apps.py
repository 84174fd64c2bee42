from django.apps import AppConfig


class IamImpersonationConfig(AppConfig):
    name = "iam.impersonation"
    label = "iam_impersonation"
    verbose_name = "Operator impersonation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
