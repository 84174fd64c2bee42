from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, Invitation, Membership, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("groups",)
    list_filter = ("is_staff", "is_active")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "tenant__slug")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Operators see tokens, personal (`user`) or the organization's (`service_account`),
    with their scopes and expiry; the token itself is never stored."""

    list_display = (
        "name",
        "prefix",
        "user",
        "service_account",
        "tenant",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    readonly_fields = ("prefix", "digest", "user", "service_account", "created_by")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Operators see invitations (and can withdraw one by setting `revoked_at`); the link
    itself is never stored, so it can't be read or re-sent from here."""

    list_display = ("email", "tenant", "role", "created_at", "expires_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("email", "tenant__slug")
    readonly_fields = ("tenant", "email", "role", "invited_by", "digest", "accepted_by")
