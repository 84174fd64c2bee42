"""provision_tenant: validation, all-or-nothing, retry, and the snapshot/migrations paths."""

import pytest
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from crm.models import Pipeline
from iam.models import Membership, Role
from tenants import snapshot
from tenants.exceptions import SlugInvalid, SlugReserved, SlugTaken
from tenants.models import Domain, Tenant
from tenants.services import provision_tenant, tenant_delete
from tenants.signals import tenant_provisioned
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_provisioning_creates_schema_row_domain_membership_and_pipeline() -> None:
    owner = UserFactory()
    tenant = provision_tenant(slug="Gamma-Labs", name="Gamma Labs", owner=owner)
    assert tenant.slug == "gamma-labs"
    assert tenant.schema_name == "t_gamma_labs"
    assert schema_exists("t_gamma_labs")
    assert Domain.objects.get(tenant=tenant, is_primary=True).domain == "gamma-labs.localhost"
    assert Membership.objects.get(tenant=tenant, user=owner).role == Role.OWNER
    with tenant_context(tenant):
        pipeline = Pipeline.objects.get(is_default=True)
        assert [s.name for s in pipeline.stages.order_by("position")][:2] == [
            "Lead in",
            "Qualified",
        ]


@pytest.mark.parametrize(
    ("slug", "error"),
    [
        ("ab", SlugInvalid),
        ("a" * 41, SlugInvalid),
        ("-acme", SlugInvalid),
        ("acme-", SlugInvalid),
        ("ac_me", SlugInvalid),
        ("acmé", SlugInvalid),
        ("xn--acme", SlugInvalid),
        ("www", SlugReserved),
        ("api", SlugReserved),
        ("admin", SlugReserved),
        ("static", SlugReserved),
        ("alpha", SlugTaken),
        ("ALPHA", SlugTaken),
    ],
)
def test_bad_slugs_are_refused_and_create_nothing(slug: str, error: type[Exception]) -> None:
    before = (Tenant.objects.count(), Domain.objects.count())
    with pytest.raises(error):
        provision_tenant(slug=slug, name="Nope", owner=UserFactory())
    assert (Tenant.objects.count(), Domain.objects.count()) == before


def test_failure_mid_way_leaves_no_schema_and_no_row_and_a_retry_succeeds() -> None:
    owner = UserFactory()

    def explode(**_: object) -> None:
        assert connection.schema_name == "t_delta"  # type: ignore[attr-defined]
        raise RuntimeError("injected failure after the schema was created")

    tenant_provisioned.connect(explode, dispatch_uid="test.explode")
    try:
        with pytest.raises(RuntimeError, match="injected"):
            provision_tenant(slug="delta", name="Delta", owner=owner)
    finally:
        tenant_provisioned.disconnect(dispatch_uid="test.explode")
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    assert not schema_exists("t_delta")
    assert not Tenant.objects.filter(slug="delta").exists()
    assert not Domain.objects.filter(domain="delta.localhost").exists()
    assert not Membership.objects.filter(user=owner).exists()

    tenant = provision_tenant(slug="delta", name="Delta", owner=owner)
    assert schema_exists("t_delta")
    assert Membership.objects.filter(user=owner, tenant=tenant).exists()


def test_failure_inside_the_snapshot_replay_rolls_back_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_ddl() -> str:
        return "CREATE TABLE crm_contact (id bigint); SELECT no_such_function();"

    monkeypatch.setattr(snapshot, "snapshot_ddl", broken_ddl)
    with pytest.raises(Exception, match="no_such_function"):
        provision_tenant(slug="epsilon", name="Epsilon", owner=UserFactory())
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    assert not schema_exists("t_epsilon")
    assert not Tenant.objects.filter(slug="epsilon").exists()


def test_migrations_path_builds_a_working_tenant() -> None:
    tenant = provision_tenant(slug="zeta", name="Zeta", owner=UserFactory(), method="migrations")
    with tenant_context(tenant):
        assert Pipeline.objects.filter(is_default=True).exists()


def test_delete_drops_schema_and_rows() -> None:
    owner = UserFactory()
    tenant = provision_tenant(slug="eta", name="Eta", owner=owner)
    tenant_delete(tenant=tenant)
    assert not schema_exists("t_eta")
    assert not Tenant.objects.filter(slug="eta").exists()
    assert not Membership.objects.filter(user=owner).exists()
