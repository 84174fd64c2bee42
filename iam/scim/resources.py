"""The SCIM resources we serve, as scim2-models classes, and the discovery documents
(ServiceProviderConfig, ResourceTypes, Schemas) derived from them.

Only the attributes we keep are declared, so the published schemas say exactly what a
client may write and will read back: a User is a member (user name, name, active, e-mails,
external id), a Group is a team (display name, members, external id).
"""

from typing import Annotated, Any, ClassVar

from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    ExtensibleStringEnum,
    Filter,
    Meta,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    Schema,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_RESULTS = 200

# Identity providers send more than the schema declares (a display name, a title, an
# enterprise extension, a member's display): those are dropped rather than refused, so a
# provider's default attribute mapping works. A PATCH that names an unknown attribute in its
# path is still refused (views). Entra's known departures from RFC 7644 are accepted: a
# `remove` carrying the value to remove, and a path filter that creates the entry it names.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


class Name(ComplexAttribute):
    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None


class Email(ComplexAttribute):
    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        other = "other"

    # A string, not pydantic's EmailStr: that refuses addresses of reserved domains (.test,
    # .local) that organizations do use; services check the address with Django's validator.
    value: Annotated[str | None, Required.true] = None
    type: Type | None = None
    primary: bool | None = None


class User(Resource[Any]):
    """A member of the organization. `emails` is required because a member is reached and
    signs in by e-mail; a request whose userName is an e-mail address may leave it out."""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Name | None = None
    Name: ClassVar[type[ComplexAttribute]] = Name
    active: bool | None = None
    emails: Annotated[list[Email] | None, Required.true] = None
    Emails: ClassVar[type[ComplexAttribute]] = Email


class GroupMember(ComplexAttribute):
    value: Annotated[str | None, Mutability.immutable, CaseExact.true, Required.true] = None
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])


class Group(Resource[Any]):
    """A team; its members are Users of the same organization (no nested groups)."""

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None
    Members: ClassVar[type[ComplexAttribute]] = GroupMember


def service_provider_config(*, base_url: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A SCIM token made in the organization's settings, as "
                "`Authorization: Bearer <token>`.",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig",
            location=f"{base_url}/ServiceProviderConfig",
        ),
    )


def resource_types(*, base_url: str) -> list[ResourceType]:
    return [
        ResourceType.model_validate(
            {
                "id": name,
                "name": name,
                "description": description,
                "endpoint": f"/{name}s",
                "schema": schema,
                "meta": {
                    "resourceType": "ResourceType",
                    "location": f"{base_url}/ResourceTypes/{name}",
                },
            }
        )
        for name, description, schema in (
            ("User", "A member of the organization", USER_SCHEMA),
            ("Group", "A team of the organization", GROUP_SCHEMA),
        )
    ]


def schemas(*, base_url: str) -> list[Schema]:
    """Our two resource schemas, and the three every server describes itself with."""
    published = []
    for model in (User, Group, ResourceType, ServiceProviderConfig, Schema):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
        published.append(schema)
    return published
