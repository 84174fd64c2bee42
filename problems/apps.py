from django.apps import AppConfig


class ProblemsConfig(AppConfig):
    name = "problems"
    verbose_name = "Problem details"

    def ready(self) -> None:
        from . import openapi  # noqa: F401 - registers the bearer-token schema extension
