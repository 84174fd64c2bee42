"""Celery tasks run in the tenant they were queued from, and never silently in `public`."""

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from config.celery import app
from crm.models import Contact
from tenants.celery import SCHEMA_HEADER, PublicTask
from tenants.exceptions import TaskTenantMissing
from tenants.models import Tenant
from tenants.tasks import organizations_fan_out

pytestmark = pytest.mark.django_db


@app.task(name="tests.contact_names")
def contact_names() -> dict[str, Any]:
    """What a tenant task sees: its schema and the contacts there."""
    return {
        "schema": connection.schema_name,  # type: ignore[attr-defined]
        "names": sorted(Contact.objects.values_list("first_name", flat=True)),
    }


@app.task(name="tests.public_schema", base=PublicTask)
def public_schema() -> str:
    return str(connection.schema_name)  # type: ignore[attr-defined]


def test_a_task_sees_only_the_tenant_it_was_queued_from(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a):
        Contact.objects.create(first_name="OnlyInA")
    with tenant_context(tenant_b):
        Contact.objects.create(first_name="OnlyInB")
        seen = contact_names.apply().get()
    assert seen == {"schema": tenant_b.schema_name, "names": ["OnlyInB"]}
    assert connection.schema_name == "public"  # type: ignore[attr-defined]
    with tenant_context(tenant_a):
        assert contact_names.apply().get()["names"] == ["OnlyInA"]


def test_queueing_outside_a_tenant_is_refused_at_once() -> None:
    with pytest.raises(TaskTenantMissing, match="needs an organization"):
        contact_names.delay()
    with pytest.raises(TaskTenantMissing):
        contact_names.apply(headers={SCHEMA_HEADER: "public"})


def test_a_message_for_a_vanished_schema_fails_before_its_first_query(
    tenant_a: Tenant,
) -> None:
    """The schema switch cannot happen (no such tenant); the task must not run where it is."""
    with tenant_context(tenant_a):
        Contact.objects.create(first_name="Bystander")
        result = contact_names.apply(headers={SCHEMA_HEADER: "t_gone_missing"})
    with pytest.raises(TaskTenantMissing, match="could not enter"):
        result.get()


def test_a_public_task_runs_in_public_even_when_queued_inside_a_tenant(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        assert public_schema.apply().get() == "public"
    with schema_context("public"):
        assert public_schema.apply().get() == "public"


_fanned_out: list[str] = []


@app.task(name="tests.record_schema")
def record_schema() -> None:
    _fanned_out.append(connection.schema_name)  # type: ignore[attr-defined]


def test_the_fan_out_queues_a_task_once_in_every_active_organization(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    Tenant.objects.filter(pk=tenant_b.pk).update(status=Tenant.Status.SUSPENDED)
    _fanned_out.clear()
    app.conf.task_always_eager = True  # each queued message runs here, with its own schema
    try:
        queued = organizations_fan_out.apply(args=["tests.record_schema"]).get()
    finally:
        app.conf.task_always_eager = False
    assert tenant_a.schema_name in _fanned_out
    assert tenant_b.schema_name not in _fanned_out  # suspended: skipped
    assert "public" not in _fanned_out
    assert sorted(_fanned_out) == sorted(set(_fanned_out))  # once each
    assert queued == len(_fanned_out)
    assert connection.schema_name == "public"  # type: ignore[attr-defined]
