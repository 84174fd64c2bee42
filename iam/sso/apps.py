from django.apps import AppConfig


class IamSsoConfig(AppConfig):
    name = "iam.sso"
    label = "iam_sso"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
