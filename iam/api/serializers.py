"""What the API shows of an organization's members and invitations, and what it accepts."""

from typing import Any

from rest_framework import serializers

from iam.models import Invitation, Membership, Role
from problems.serializers import StrictEmailField


class MemberSerializer(serializers.ModelSerializer):
    """A person's membership of the organization."""

    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)
    active = serializers.SerializerMethodField(
        help_text="False while the member is switched off (they can't sign in here)."
    )
    managed_by_identity_provider = serializers.SerializerMethodField(
        help_text="True when the identity provider (SCIM) manages this member: switching "
        "them on or off is done there."
    )

    class Meta:
        model = Membership
        fields = [
            "id",
            "email",
            "full_name",
            "role",
            "joined_at",
            "active",
            "deactivated_at",
            "managed_by_identity_provider",
        ]
        read_only_fields = [
            "id",
            "email",
            "full_name",
            "joined_at",
            "deactivated_at",
        ]

    def get_active(self, membership: Membership) -> bool:
        return membership.deactivated_at is None

    def get_managed_by_identity_provider(self, membership: Membership) -> bool:
        return bool(membership.external_id)


class MemberRoleSerializer(serializers.Serializer):
    """A new role: owners give any role, admins any but owner."""

    role = serializers.ChoiceField(choices=Role.choices)

    def to_representation(self, instance: Any) -> Any:
        return MemberSerializer(instance, context=self.context).data


class InvitationSerializer(serializers.ModelSerializer):
    """An open invitation. Its link is only ever e-mailed to the invited address."""

    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


# The roles an invitation can give (ownership is handed over, not invited); named in the
# OpenAPI schema as InvitedRoleEnum, beside RoleEnum (SPECTACULAR_SETTINGS).
INVITABLE_ROLES = [(Role.ADMIN.value, Role.ADMIN.label), (Role.MEMBER.value, Role.MEMBER.label)]


class InvitationCreateSerializer(serializers.Serializer):
    """Whom to invite, and as what (owners and admins invite admins and members)."""

    email = StrictEmailField(max_length=254)
    role = serializers.ChoiceField(choices=INVITABLE_ROLES, default=Role.MEMBER.value)

    def to_representation(self, instance: Any) -> Any:
        return InvitationSerializer(instance, context=self.context).data
