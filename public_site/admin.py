from django.contrib import admin
from django.http import HttpRequest

from .models import PendingSignup


@admin.register(PendingSignup)
class PendingSignupAdmin(admin.ModelAdmin):
    """Operators see sign-ups waiting for their link, and what a used link made; nothing
    here can be changed, and neither the link nor the password is ever stored in plain."""

    list_display = ("email", "slug", "organization_name", "created_at", "expires_at", "tenant")
    search_fields = ("email", "slug", "organization_name")
    list_filter = (("completed_at", admin.EmptyFieldListFilter),)
    exclude = ("password", "digest")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
