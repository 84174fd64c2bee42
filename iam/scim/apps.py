from django.apps import AppConfig


class IamScimConfig(AppConfig):
    name = "iam.scim"
    label = "iam_scim"
    verbose_name = "SCIM provisioning"
    default_auto_field = "django.db.models.BigAutoField"
