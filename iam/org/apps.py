from django.apps import AppConfig


class IamOrgConfig(AppConfig):
    name = "iam.org"
    label = "iam_org"
    verbose_name = "Access inside an organization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from iam.audit import receivers  # noqa: F401
