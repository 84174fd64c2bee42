"""The API of the access model: custom roles, teams, access policies, a member's custom
roles and teams, the "why?" of a decision, and the shares of single records.

Roles, teams and policies live in the shared schema: every lookup filters by the request's
organization, so another organization's ids answer 404. Shares live in the organization's
own schema, next to the records they open.
"""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from iam import authz
from iam.authz import catalog
from iam.authz.guards import Authorized
from iam.models import AccessPolicy, CustomRole, Membership, Role, Team, User
from iam.org.models import RecordShare
from iam.permissions import IsTenantMember
from iam.selectors_access import (
    access_why,
    custom_role_list,
    membership_access_list,
    policy_list,
    record_get,
    record_share_list,
    require_why_right,
    team_list,
)
from iam.services_access import (
    custom_role_create,
    custom_role_delete,
    custom_role_update,
    membership_access_set,
    policy_create,
    policy_delete,
    policy_set_enabled,
    policy_update,
    record_share_remove,
    record_share_set,
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)
from problems.exceptions import InvalidFields
from problems.openapi import problem_responses
from problems.serializers import StrictCharField

from .base import TenantViewSet

_NAME_TAKEN = problem_responses(409, "The name is in use already (`code` name-taken).")
_NOT_ALLOWED = problem_responses(
    403,
    "Your roles don't allow this (`code` not-allowed or access-denied), with the reason in "
    "`detail`: the admin right is missing, or the change would give admin rights you do not "
    "hold yourself.",
)


def _tenant(request: Request) -> Any:
    return request._request.tenant  # type: ignore[attr-defined]


def _principal(request: Request) -> authz.Principal:
    principal = authz.principal_for_request(request._request)
    assert principal is not None  # noqa: S101 - Authorized let a member through
    return principal


# Custom roles ------------------------------------------------------------------------------

_SCOPES_OF_RECORD_ACTIONS = ["none", "own", "team", "all"]
_SCOPES_OF_WHOLE_TYPE = ["none", "all"]


def _permissions_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for permission in sorted(catalog.ALL_PERMISSIONS):
        area, _, act = permission.partition(".")
        if area == "admin":
            properties[permission] = {"type": "string", "enum": ["none", "all"]}
        elif act in catalog.TYPE_LEVEL_ACTIONS:
            properties[permission] = {"type": "string", "enum": _SCOPES_OF_WHOLE_TYPE}
        else:
            properties[permission] = {"type": "string", "enum": _SCOPES_OF_RECORD_ACTIONS}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "description": "Permission → scope. Record permissions (`deal.edit`) reach `own` "
        "records, `team` records (owned by someone in one of the member's teams) or `all`; "
        "`create`, `export` and admin rights (`admin.people`) are `all` or nothing. A "
        "permission left out (or `none`) grants nothing; an unknown one is a 400.",
    }


@extend_schema_field(_permissions_schema())
class PermissionsField(serializers.JSONField):
    """A custom role's matrix, documented as the permissions it may name."""


class CustomRoleSerializer(serializers.ModelSerializer[CustomRole]):
    """A custom role and what it grants."""

    permissions = PermissionsField(read_only=True)
    member_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = CustomRole
        fields = [
            "id",
            "name",
            "description",
            "permissions",
            "member_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BuiltInRoleSerializer(serializers.Serializer[Any]):
    """A built-in role and what it grants."""

    key = serializers.ChoiceField(choices=Role.choices)
    name = serializers.CharField()
    description = serializers.CharField()
    permissions = PermissionsField()


class CustomRoleWriteSerializer(serializers.Serializer[CustomRole]):
    name = StrictCharField(max_length=60)
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    permissions = PermissionsField(default=dict)

    def to_representation(self, instance: Any) -> Any:
        return CustomRoleSerializer(instance, context=self.context).data


class CustomRolePatchSerializer(CustomRoleWriteSerializer):
    name = StrictCharField(max_length=60, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    permissions = PermissionsField(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="List custom roles",
        description="The organization's custom roles, with how many members hold each. "
        "Members with the admin right `roles` only.",
    ),
    retrieve=extend_schema(
        summary="Get a custom role",
        description="One custom role: its permission matrix and how many members hold it.",
    ),
    create=extend_schema(
        summary="Create a custom role",
        request=CustomRoleWriteSerializer,
        responses={201: CustomRoleSerializer, **_NAME_TAKEN, **_NOT_ALLOWED},
        description="A role from the permission matrix. It may grant no admin right that "
        "you do not hold yourself (403).",
    ),
    partial_update=extend_schema(
        summary="Change a custom role",
        request=CustomRolePatchSerializer,
        responses={200: CustomRoleSerializer, **_NAME_TAKEN, **_NOT_ALLOWED},
        description="Its members have the new rights from their next request.",
    ),
    destroy=extend_schema(
        summary="Delete a custom role",
        responses={204: None, **_NOT_ALLOWED},
        description="Members who held it keep their other roles and lose what it granted.",
    ),
)
class CustomRoleViewSet(TenantViewSet):
    """Custom roles of the organization."""

    admin_right = "roles"
    serializer_class = CustomRoleSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[CustomRole]:
        if getattr(self, "swagger_fake_view", False):
            return CustomRole.objects.none()
        return custom_role_list(tenant=_tenant(self.request)).select_related("tenant")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = CustomRoleWriteSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        role = custom_role_create(
            tenant=_tenant(request), by=cast(User, request.user), **wanted.validated_data
        )
        role = self.get_queryset().get(pk=role.pk)
        return Response(CustomRoleSerializer(role).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        role = cast(CustomRole, self.get_object())
        wanted = CustomRolePatchSerializer(data=request.data, partial=True)
        wanted.is_valid(raise_exception=True)
        changes = {
            "name": role.name,
            "description": role.description,
            "permissions": role.permissions,
            **wanted.validated_data,
        }
        custom_role_update(role=role, by=cast(User, request.user), **changes)
        role = self.get_queryset().get(pk=role.pk)
        return Response(CustomRoleSerializer(role).data, headers={"ETag": self.etag_for(role)})

    def perform_destroy(self, instance: CustomRole) -> None:
        custom_role_delete(role=instance, by=cast(User, self.request.user))

    @extend_schema(
        summary="List the built-in roles",
        description="Every built-in role with what it grants (read-only).",
        responses={200: BuiltInRoleSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="built-in", pagination_class=None)
    def built_in(self, request: Request) -> Response:
        roles = [
            {
                "key": key,
                "name": str(Role(key).label),
                "description": catalog.BUILT_IN_ROLE_DESCRIPTIONS[key],
                "permissions": {p: str(s) for p, s in sorted(grants.items())},
            }
            for key, grants in catalog.BUILT_IN_ROLES.items()
        ]
        return Response(BuiltInRoleSerializer(roles, many=True).data)


# A member's custom roles and teams --------------------------------------------------------


class MemberAccessSerializer(serializers.Serializer[Membership]):
    """A member's custom roles and teams, by id."""

    custom_roles = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=100,
        required=False,
    )
    teams = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=100,
        required=False,
    )


class MemberAccessView(GenericAPIView[Membership]):
    """A member's custom roles and teams. The admin right `people`."""

    permission_classes = [IsTenantMember, Authorized]
    admin_right = "people"
    serializer_class = MemberAccessSerializer

    def _membership(self, pk: int) -> Membership:
        found = Membership.objects.filter(pk=pk, tenant=_tenant(self.request)).first()
        if found is None:
            raise NotFound()
        return found

    def _answer(self, membership: Membership) -> Response:
        access = membership_access_list(tenant=_tenant(self.request)).get(membership.pk, {})
        return Response(
            {
                "custom_roles": sorted(access.get("roles", ())),
                "teams": sorted(access.get("teams", ())),
            }
        )

    @extend_schema(
        summary="Get a member's custom roles and teams",
        operation_id="member_access",
        description="The ids of the member's custom roles and of the teams they are in.",
    )
    def get(self, request: Request, pk: int) -> Response:
        return self._answer(self._membership(pk))

    @extend_schema(
        summary="Set a member's custom roles and teams",
        operation_id="member_access_update",
        request=MemberAccessSerializer,
        responses={200: MemberAccessSerializer, **_NOT_ALLOWED},
        description="Each list given replaces the member's custom roles or teams. A role "
        "granting an admin right you do not hold can't be given (403); only owners change an "
        "owner's roles.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        membership = self._membership(pk)
        wanted = MemberAccessSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        membership_access_set(
            membership=membership,
            by=cast(User, request.user),
            role_ids=wanted.validated_data.get("custom_roles"),
            team_ids=wanted.validated_data.get("teams"),
        )
        return self._answer(membership)


# Teams -----------------------------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer[Team]):
    """A team: its manager and members, by user id."""

    manager = serializers.IntegerField(source="manager_id", read_only=True, allow_null=True)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "manager", "members", "created_at"]
        read_only_fields = fields

    def get_members(self, team: Team) -> list[int]:
        return sorted(m.user_id for m in team.memberships.all())


class TeamWriteSerializer(serializers.Serializer[Team]):
    name = StrictCharField(max_length=100)
    manager = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, default=None
    )
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=500,
        required=False,
        default=list,
    )

    def to_representation(self, instance: Any) -> Any:
        return TeamSerializer(instance, context=self.context).data


class TeamPatchSerializer(serializers.Serializer[Team]):
    name = StrictCharField(max_length=100, required=False)
    manager = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )


class TeamMemberSerializer(serializers.Serializer[Team]):
    user = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


_MEMBER_FIELD = problem_responses(
    400, "A user id that is not a member of this organization (field error)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List teams", description="Teams with their manager and members (user ids)."
    ),
    retrieve=extend_schema(
        summary="Get a team", description="One team: its name, manager and members."
    ),
    create=extend_schema(
        summary="Create a team",
        request=TeamWriteSerializer,
        responses={201: TeamSerializer, **_NAME_TAKEN},
        description="The manager and members are user ids of members of the organization; "
        "the manager is one of the team's members too.",
    ),
    partial_update=extend_schema(
        summary="Rename a team or change its manager",
        request=TeamPatchSerializer,
        responses={200: TeamSerializer, **_NAME_TAKEN},
        description="A new name, or another manager (a member of the organization, who "
        "joins the team; `null` for none).",
    ),
    destroy=extend_schema(
        summary="Delete a team",
        description="Its members stay in the organization; shares with the team end.",
    ),
)
class TeamViewSet(TenantViewSet):
    """Teams of the organization. The admin right `people`."""

    admin_right = "people"
    serializer_class = TeamSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Team]:
        if getattr(self, "swagger_fake_view", False):
            return Team.objects.none()
        return team_list(tenant=_tenant(self.request)).select_related("tenant")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = TeamWriteSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        team = team_create(
            tenant=_tenant(request),
            by=cast(User, request.user),
            name=data["name"],
            manager_id=data.get("manager"),
            member_ids=data.get("members", []),
        )
        team = self.get_queryset().get(pk=team.pk)
        return Response(TeamSerializer(team).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team = cast(Team, self.get_object())
        wanted = TeamPatchSerializer(data=request.data, partial=True)
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        team_update(
            team=team,
            by=cast(User, request.user),
            name=data.get("name", team.name),
            manager_id=data["manager"] if "manager" in data else team.manager_id,
        )
        team = self.get_queryset().get(pk=team.pk)
        return Response(TeamSerializer(team).data, headers={"ETag": self.etag_for(team)})

    def perform_destroy(self, instance: Team) -> None:
        team_delete(team=instance, by=cast(User, self.request.user))

    @extend_schema(
        summary="Add a member to a team",
        request=TeamMemberSerializer,
        responses={200: TeamSerializer, **_MEMBER_FIELD},
        description="Put a member of the organization (`user`, a user id) in the team.",
    )
    @action(detail=True, methods=["post"], url_path="members")
    def add_member(self, request: Request, pk: str | None = None) -> Response:
        team = cast(Team, self.get_object())
        wanted = TeamMemberSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        team_member_add(
            team=team, by=cast(User, request.user), user_id=wanted.validated_data["user"]
        )
        return Response(TeamSerializer(self.get_queryset().get(pk=team.pk)).data)

    @extend_schema(
        summary="Take a member out of a team",
        request=None,
        responses={204: None},
        parameters=[OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        description="Take someone out of the team; a manager who leaves it stops managing it.",
    )
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>[0-9]+)")
    def remove_member(self, request: Request, pk: str | None = None, user_id: str = "") -> Response:
        team = cast(Team, self.get_object())
        team_member_remove(team=team, by=cast(User, request.user), user_id=int(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# Policies --------------------------------------------------------------------------------


class PolicySerializer(serializers.ModelSerializer[AccessPolicy]):
    """An access policy in Cedar."""

    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = AccessPolicy
        fields = [
            "id",
            "name",
            "description",
            "source",
            "is_enabled",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PolicyWriteSerializer(serializers.Serializer[AccessPolicy]):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=300, required=False, allow_blank=True, default="")
    # Declared fields leave the class (DRF's metaclass), so `Field.source` stays unshadowed.
    source = StrictCharField(  # type: ignore[assignment]
        max_length=20_000,
        help_text="Cedar statements, checked against the schema of the organization's "
        "entities and actions (see the Policies page) before anything is saved.",
    )
    is_enabled = serializers.BooleanField(default=True)

    def to_representation(self, instance: Any) -> Any:
        return PolicySerializer(instance, context=self.context).data


class PolicyPatchSerializer(serializers.Serializer[AccessPolicy]):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=300, required=False, allow_blank=True)
    source = StrictCharField(max_length=20_000, required=False)  # type: ignore[assignment]
    is_enabled = serializers.BooleanField(required=False)


_INVALID_POLICY = problem_responses(
    400, "The policy is not valid against the schema: the messages are under `errors.source`."
)


@extend_schema_view(
    list=extend_schema(
        summary="List access policies",
        description="The organization's Cedar policies, switched on or off. Members with "
        "the admin right `policies` only.",
    ),
    retrieve=extend_schema(
        summary="Get an access policy",
        description="One policy: its name, description, Cedar source and whether it is on.",
    ),
    create=extend_schema(
        summary="Create an access policy",
        request=PolicyWriteSerializer,
        responses={201: PolicySerializer, **_INVALID_POLICY, **_NAME_TAKEN},
        description="Validated before it is saved: an invalid policy is a 400 with field "
        "errors and nothing is saved. Enabled policies apply from the next request.",
    ),
    partial_update=extend_schema(
        summary="Change, switch on or switch off an access policy",
        request=PolicyPatchSerializer,
        responses={200: PolicySerializer, **_INVALID_POLICY, **_NAME_TAKEN},
        description="A changed source is validated as on creation; `is_enabled` switches "
        "the policy on or off from the next request.",
    ),
    destroy=extend_schema(
        summary="Delete an access policy",
        description="The policy stops applying at once.",
    ),
)
class PolicyViewSet(TenantViewSet):
    """Access policies of the organization. The admin right `policies`."""

    admin_right = "policies"
    serializer_class = PolicySerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[AccessPolicy]:
        if getattr(self, "swagger_fake_view", False):
            return AccessPolicy.objects.none()
        return policy_list(tenant=_tenant(self.request)).select_related("tenant")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = PolicyWriteSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        policy = policy_create(
            tenant=_tenant(request), by=cast(User, request.user), **wanted.validated_data
        )
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        policy = cast(AccessPolicy, self.get_object())
        wanted = PolicyPatchSerializer(data=request.data, partial=True)
        wanted.is_valid(raise_exception=True)
        data = dict(wanted.validated_data)
        by = cast(User, request.user)
        enabled = data.pop("is_enabled", None)
        if data:
            policy_update(
                policy=policy,
                by=by,
                name=data.get("name", policy.name),
                description=data.get("description", policy.description),
                source=data.get("source", policy.source),
            )
        if enabled is not None:
            policy_set_enabled(policy=policy, by=by, is_enabled=enabled)
        return Response(PolicySerializer(policy).data, headers={"ETag": self.etag_for(policy)})

    def perform_destroy(self, instance: AccessPolicy) -> None:
        policy_delete(policy=instance, by=cast(User, self.request.user))


# Why? ------------------------------------------------------------------------------------


class WhyPolicySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class WhySerializer(serializers.Serializer[Any]):
    allowed = serializers.BooleanField()
    reason = serializers.CharField()
    grant = serializers.CharField(help_text="What the member's roles grant here, in words.")
    policies = WhyPolicySerializer(many=True, help_text="The policies that decided.")


_RECORD_TYPE_ENUM = sorted(catalog.RECORD_TYPE_KEYS)


class WhyView(GenericAPIView[Any]):
    """The decision for one member, action and record, with the reason and the policies
    that decided. For members with the admin right `people` or `policies`."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True
    serializer_class = WhySerializer
    pagination_class = None

    @extend_schema(
        summary="Why may (or may not) a member do this?",
        operation_id="access_why",
        parameters=[
            OpenApiParameter(
                "user",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                required=True,
                description="The member's user id.",
            ),
            OpenApiParameter(
                "action",
                {"type": "string", "enum": sorted(catalog.RECORD_ACTION_KEYS)},
                required=True,
            ),
            OpenApiParameter(
                "record_type", {"type": "string", "enum": _RECORD_TYPE_ENUM}, required=True
            ),
            OpenApiParameter(
                "record_id",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                description="The record; without it, the record type as a whole.",
            ),
        ],
        responses={
            200: WhySerializer,
            **_NOT_ALLOWED,
            **problem_responses(400, "An unknown action or record type, or a malformed id."),
            **problem_responses(
                404, "No member of this organization with this user id, or no such record."
            ),
        },
        description="What the decision point answers for a member taking an action on a "
        "record (or on a record type, for create and export): allowed or not, the reason, "
        "what the member's roles grant, and the policies that decided. For members with the "
        "admin right `people` or `policies`.",
    )
    def get(self, request: Request) -> Response:
        require_why_right(_principal(request))
        query = request.query_params
        try:
            answer = access_why(
                tenant=_tenant(request),
                user_id=query.get("user", ""),
                action=query.get("action", ""),
                record_type=query.get("record_type", ""),
                record_id=query.get("record_id") or None,
            )
        except InvalidFields as exc:
            # A well-formed id of nobody here (or of no record here) is missing, as
            # elsewhere in the API; malformed parameters stay field errors.
            if set(exc.errors) <= {"user", "record_id"}:
                raise NotFound(
                    " ".join(n for notes in exc.errors.values() for n in notes)
                ) from None
            raise
        decision = answer.decision
        return Response(
            {
                "allowed": decision.allowed,
                "reason": decision.reason,
                "grant": decision.grant,
                "policies": [{"id": p.pk, "name": p.name} for p in answer.policies],
            }
        )


# Shares ----------------------------------------------------------------------------------


class ShareSerializer(serializers.ModelSerializer[RecordShare]):
    """One record shared with one member (`user`) or one team (`team`)."""

    user = serializers.IntegerField(source="user_id", read_only=True, allow_null=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)
    shared_by = serializers.IntegerField(source="shared_by_id", read_only=True, allow_null=True)

    class Meta:
        model = RecordShare
        fields = [
            "id",
            "record_type",
            "record_id",
            "user",
            "team",
            "level",
            "shared_by",
            "created_at",
        ]
        read_only_fields = fields


class ShareCreateSerializer(serializers.Serializer[RecordShare]):
    record_type = serializers.ChoiceField(choices=_RECORD_TYPE_ENUM)
    record_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    user = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )
    team = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )
    level = serializers.ChoiceField(choices=RecordShare.Level.choices)


class ShareLevelSerializer(serializers.Serializer[RecordShare]):
    level = serializers.ChoiceField(choices=RecordShare.Level.choices)


@extend_schema_view(
    list=extend_schema(
        summary="List the shares of a record",
        parameters=[
            OpenApiParameter(
                "record_type", {"type": "string", "enum": _RECORD_TYPE_ENUM}, required=True
            ),
            OpenApiParameter(
                "record_id",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                required=True,
            ),
        ],
        description="Who one record is shared with, for anyone who may see the record.",
    ),
    retrieve=extend_schema(
        summary="Get a share",
        description="One share: the record, whom it is shared with and at which level.",
    ),
    create=extend_schema(
        summary="Share a record",
        request=ShareCreateSerializer,
        responses={201: ShareSerializer, **_NOT_ALLOWED},
        description="Share one record with a member (`user`) or a team (`team`), to view or "
        "to edit; sharing it again with the same one changes the level. Whoever may edit the "
        "record may share it.",
    ),
    partial_update=extend_schema(
        summary="Change the level of a share",
        request=ShareLevelSerializer,
        responses={200: ShareSerializer, **_NOT_ALLOWED},
        description="Switch a share between view and edit, if you may edit the record.",
    ),
    destroy=extend_schema(
        summary="Stop sharing",
        responses={204: None, **_NOT_ALLOWED},
        description="End one share, if you may edit the record.",
    ),
)
class ShareViewSet(TenantViewSet):
    """Shares of single records. Reading needs the record's view right; changes need its
    edit right."""

    member_route = True
    serializer_class = ShareSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[RecordShare]:
        if getattr(self, "swagger_fake_view", False):
            return RecordShare.objects.none()
        if self.action == "list":
            record_type = self.request.query_params.get("record_type", "")
            record = self._record(record_type, self.request.query_params.get("record_id", ""))
            return record_share_list(record_type=record_type, record_id=record.pk)
        return RecordShare.objects.all()

    def _record(self, record_type: str, record_id: object) -> Any:
        """The record, if the asker may see it (404 otherwise, as for a missing one)."""
        if record_type not in catalog.RECORD_TYPE_KEYS:
            raise InvalidFields({"record_type": ["No such record type."]})
        record = record_get(record_type=record_type, record_id=record_id)
        decision = authz.check(
            _principal(self.request), "view", record_type=record_type, record=record
        )
        if not decision.allowed:
            raise NotFound()
        return record

    def get_object(self) -> RecordShare:
        share = cast(RecordShare, super().get_object())
        self._record(share.record_type, share.record_id)
        return share

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = ShareCreateSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        record = self._record(data["record_type"], data["record_id"])
        share = record_share_set(
            principal=_principal(request),
            record_type=data["record_type"],
            record_id=record.pk,
            user_id=data.get("user"),
            team_id=data.get("team"),
            level=data["level"],
        )
        return Response(ShareSerializer(share).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        share = self.get_object()
        wanted = ShareLevelSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        share = record_share_set(
            principal=_principal(request),
            record_type=share.record_type,
            record_id=share.record_id,
            user_id=share.user_id,
            team_id=share.team_id,
            level=wanted.validated_data["level"],
        )
        return Response(ShareSerializer(share).data, headers={"ETag": self.etag_for(share)})

    def perform_destroy(self, instance: RecordShare) -> None:
        record_share_remove(principal=_principal(self.request), share=instance)
