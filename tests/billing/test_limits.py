"""The plan's limits at every place that creates what they count: members and invitations,
contacts (one by one, bulk, import, restored from the trash, made by a lead's conversion),
custom fields, API tokens and imports a day; on the pages (the 402 limit page) and in the
API (402 `plan-limit`), with nothing written when refused. Also: data above a lower plan's
limits stays editable, counts stop at the limit, racing creates get one last place, and one
organization's records never count toward another's."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from billing import entitlements
from billing.exceptions import PlanLimitReached
from billing.models import Plan, Subscription
from crm import services
from crm.models import Company, Contact, ContactImport, CustomField, Lead
from crm.plan_counters import contacts_count
from crm.services.trash import record_trash
from iam.models import ApiToken, Invitation, Membership, Role, User
from iam.services import (
    api_token_create,
    invitation_accept,
    invitation_create,
    membership_create,
    membership_role_change,
)
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)

pytestmark = pytest.mark.django_db

FREE_CONTACTS = 1000
FEW = 5  # the contacts a test leaves Free with, to stay fast


def _move_to(tenant: Tenant, code: str, **limits: int) -> Plan:
    """Put the organization on plan `code`, as a downgrade or an upgrade would; `limits`
    change the plan's own, as an operator may (so a test needs 5 contacts, not 1,000)."""
    plan = Plan.objects.get(code=code)
    if limits:
        plan.limits = {**plan.limits, **limits}
        plan.save(update_fields=["limits"])
    Subscription.objects.filter(organization_id=tenant.pk).update(plan=plan)
    return plan


def _fill_contacts(tenant: Tenant, n: int) -> None:
    """`n` contacts made straight in the table (the limit is what is tested, not the form)."""
    with tenant_context(tenant):
        Contact.objects.bulk_create(Contact(first_name=f"Person {i}") for i in range(n))


def _contacts(tenant: Tenant) -> int:
    with tenant_context(tenant):
        return Contact.objects.count()


def _assert_plan_limit_problem(response: Any, *, name: str, limit: int, current: int) -> None:
    assert response.status_code == 402, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "plan-limit"
    assert (body["limit_name"], body["limit"], body["current"]) == (name, limit, current)
    assert body["plan"] == "free"
    assert body["upgrade_url"].endswith("/settings/billing/")


def _assert_limit_page(response: Any, *, limit: int, current: int) -> None:
    assert response.status_code == 402
    assert "billing/limit_reached.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert 'data-testid="plan-limit"' in page
    assert f'data-testid="plan-limit-limit">{limit}<' in page
    assert f'data-testid="plan-limit-current">{current}<' in page
    assert "/settings/billing/" in page  # the way up


@pytest.fixture
def owner_web(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


@pytest.fixture
def api(tenant_a: Tenant, owner_a: User) -> Client:
    """An owner's API client, its token made while the organization is still on its trial."""
    return token_client(owner_a, tenant_a)


# Contacts -------------------------------------------------------------------------------


def test_the_contact_form_past_the_limit_shows_the_limit_page_and_adds_nothing(
    tenant_a: Tenant, owner_web: Client
) -> None:
    _move_to(tenant_a, "free")
    _fill_contacts(tenant_a, FREE_CONTACTS)
    response = owner_web.post("/contacts/new/", {"first_name": "One", "last_name": "Toomany"})
    _assert_limit_page(response, limit=FREE_CONTACTS, current=FREE_CONTACTS)
    assert b"Upgrade the plan" in response.content  # owners are offered the upgrade itself
    assert _contacts(tenant_a) == FREE_CONTACTS


def test_a_member_meeting_the_limit_is_told_an_owner_can_upgrade(
    tenant_a: Tenant, client_a: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    response = client_a.post("/contacts/new/", {"first_name": "One"})
    assert response.status_code == 402
    assert b"An owner of the organization can change its plan." in response.content


def test_an_htmx_form_past_the_limit_gets_the_page_in_place_of_the_body(
    tenant_a: Tenant, owner_web: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    response = owner_web.post("/contacts/new/", {"first_name": "One"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 402
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("body", "innerHTML")
    assert b'data-testid="plan-limit"' in response.content


def test_the_api_refuses_a_contact_past_the_limit_with_402(tenant_a: Tenant, api: Client) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW - 1)
    first = api.post("/api/v1/contacts/", {"first_name": "Last"}, content_type="application/json")
    assert first.status_code == 201, first.content  # the last place is taken
    refused = api.post("/api/v1/contacts/", {"first_name": "Over"}, content_type="application/json")
    _assert_plan_limit_problem(refused, name="contacts", limit=FEW, current=FEW)
    assert _contacts(tenant_a) == FEW


def test_a_bulk_request_passing_the_limit_is_refused_whole(tenant_a: Tenant, api: Client) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW - 1)
    with tenant_context(tenant_a):
        kept = Contact.objects.first()
    assert kept is not None
    response = api.post(
        "/api/v1/contacts/bulk/",
        {
            "create": [{"first_name": "Fits"}, {"first_name": "Passes"}],
            "update": [{"id": kept.pk, "title": "Changed"}],
        },
        content_type="application/json",
    )
    _assert_plan_limit_problem(response, name="contacts", limit=FEW, current=FEW - 1)
    assert response.json()["requested"] == 2
    with tenant_context(tenant_a):
        assert Contact.objects.count() == FEW - 1
        assert Contact.objects.get(pk=kept.pk).title == ""  # the batch's update went too


def test_a_bulk_request_within_the_limit_is_written(tenant_a: Tenant, api: Client) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW - 2)
    response = api.post(
        "/api/v1/contacts/bulk/",
        {"create": [{"first_name": "One"}, {"first_name": "Two"}]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert _contacts(tenant_a) == FEW


def _csv(*names: str) -> SimpleUploadedFile:
    rows = "".join(f"{n},{n.lower()}@import.test,Newco\n" for n in names)
    return SimpleUploadedFile("people.csv", f"First name,Email,Company\n{rows}".encode())


def test_an_import_that_would_pass_the_limit_is_refused_before_its_first_row(
    tenant_a: Tenant, api: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW - 2)
    response = api.post("/api/v1/contacts/import/", {"file": _csv("Ann", "Bob", "Cid")})
    _assert_plan_limit_problem(response, name="contacts", limit=FEW, current=FEW - 2)
    assert response.json()["requested"] == 3
    with tenant_context(tenant_a):
        assert Contact.objects.count() == FEW - 2
        assert not Company.objects.filter(name="Newco").exists()  # not even its company
        assert not ContactImport.objects.exists()


def test_a_dry_run_answers_as_the_import_would(tenant_a: Tenant, api: Client) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW - 1)
    response = api.post("/api/v1/contacts/import/", {"file": _csv("Ann", "Bob"), "dry_run": "true"})
    assert response.status_code == 402
    assert response.json()["requested"] == 2


def test_the_import_page_past_the_limit_shows_the_limit_page(
    tenant_a: Tenant, owner_web: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    content = b"First name,Email\nAnn,ann@import.test\n"
    mapped = owner_web.post(
        "/contacts/import/",
        {
            "file": SimpleUploadedFile("p.csv", content),
            "on_duplicate": "skip",
            "step": "map",
        },
    )
    assert mapped.status_code == 200
    found = mapped.context["mapping_step"]
    data = {
        "file": SimpleUploadedFile("p.csv", content),
        "on_duplicate": "skip",
        "step": "import",
        "headings_digest": found.digest,
        **{f"column-{c['index']}": c["chosen"] for c in found.columns},
    }
    response = owner_web.post("/contacts/import/", data, HTTP_HX_REQUEST="true")
    _assert_limit_page(response, limit=FEW, current=FEW)
    assert _contacts(tenant_a) == FEW


def test_restoring_a_contact_asks_the_plan_again(tenant_a: Tenant, api: Client) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    with tenant_context(tenant_a):
        trashed = Contact.objects.first()
        assert trashed is not None
        record_trash(record=trashed, by=None)
        Contact.objects.create(first_name="Took its place")  # the trash frees a place
    response = api.post(f"/api/v1/contacts/{trashed.pk}/restore/")
    _assert_plan_limit_problem(response, name="contacts", limit=FEW, current=FEW)
    with tenant_context(tenant_a):
        assert Contact.trashed.filter(pk=trashed.pk).exists()


def test_converting_a_lead_into_a_contact_past_the_limit_is_refused(
    tenant_a: Tenant, api: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    with tenant_context(tenant_a):
        lead = Lead.objects.create(first_name="Lena", last_name="Lead", company_name="")
    response = api.post(f"/api/v1/leads/{lead.pk}/convert/", {}, content_type="application/json")
    _assert_plan_limit_problem(response, name="contacts", limit=FEW, current=FEW)
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).converted_contact_id is None


def test_restoring_or_converting_on_the_pages_past_the_limit_shows_the_limit_page(
    tenant_a: Tenant, owner_web: Client
) -> None:
    _move_to(tenant_a, "free", contacts=FEW)
    _fill_contacts(tenant_a, FEW)
    with tenant_context(tenant_a):
        trashed = Contact.objects.first()
        assert trashed is not None
        record_trash(record=trashed, by=None)
        Contact.objects.create(first_name="Took its place")
        lead = Lead.objects.create(first_name="Lena", last_name="Lead", company_name="")
    restore = owner_web.post(f"/trash/contact/{trashed.pk}/restore/")
    _assert_limit_page(restore, limit=FEW, current=FEW)
    convert = owner_web.post(f"/leads/{lead.pk}/convert/", {"currency": "USD"})
    _assert_limit_page(convert, limit=FEW, current=FEW)
    with tenant_context(tenant_a):
        assert Contact.trashed.filter(pk=trashed.pk).exists()
        assert Lead.objects.get(pk=lead.pk).converted_contact_id is None


def test_after_a_downgrade_contacts_above_the_limit_stay_readable_and_editable(
    tenant_a: Tenant, owner_web: Client, api: Client
) -> None:
    _fill_contacts(tenant_a, FREE_CONTACTS + 1)  # made on the trial's Growth plan
    _move_to(tenant_a, "free")
    with tenant_context(tenant_a):
        contact = Contact.objects.order_by("pk").last()
    assert contact is not None
    assert owner_web.get(f"/contacts/{contact.pk}/").status_code == 200
    edited = owner_web.post(f"/contacts/{contact.pk}/edit/", {"first_name": "Edited"})
    assert edited.status_code == 302
    patched = api.patch(
        f"/api/v1/contacts/{contact.pk}/", {"title": "CEO"}, content_type="application/json"
    )
    assert patched.status_code == 200, patched.content
    refused = api.post("/api/v1/contacts/", {"first_name": "More"}, content_type="application/json")
    _assert_plan_limit_problem(refused, name="contacts", limit=FREE_CONTACTS, current=1001)
    usage = {u.name: u for u in entitlements.usage(tenant_a)}
    assert usage["contacts"].over
    with tenant_context(tenant_a):
        assert (Contact.objects.get(pk=contact.pk).first_name, contact.pk) == ("Edited", contact.pk)
        assert Contact.objects.count() == FREE_CONTACTS + 1


def test_trashed_contacts_do_not_count(tenant_a: Tenant) -> None:
    _fill_contacts(tenant_a, 3)
    with tenant_context(tenant_a):
        record_trash(record=Contact.objects.first(), by=None)  # type: ignore[arg-type]
    assert entitlements.count(tenant_a, "contacts") == 2


def test_the_count_stops_just_past_the_cap(tenant_a: Tenant) -> None:
    _fill_contacts(tenant_a, 12)
    assert contacts_count(tenant_a, 5) == 6
    assert contacts_count(tenant_a, None) == 12
    with tenant_context(tenant_a), CaptureQueriesContext(connection) as queries:
        contacts_count(tenant_a, 5)
    assert "LIMIT 6" in queries.captured_queries[-1]["sql"]


# Custom fields --------------------------------------------------------------------------


def test_custom_fields_are_limited_on_the_page_and_in_the_api(
    tenant_a: Tenant, owner_web: Client, api: Client
) -> None:
    with tenant_context(tenant_a):
        for n in range(3):
            CustomField.objects.create(entity="contact", key=f"f{n}", label=f"F{n}", position=n)
    _move_to(tenant_a, "free")  # 3 of Free's 5: adding still works
    for label in ("Fourth", "Fifth"):
        made = api.post(
            "/api/v1/custom-fields/",
            {"entity": "company", "label": label, "type": "text"},
            content_type="application/json",
        )
        assert made.status_code == 201, made.content
    refused = api.post(
        "/api/v1/custom-fields/",
        {"entity": "contact", "label": "Sixth", "type": "text"},
        content_type="application/json",
    )
    _assert_plan_limit_problem(refused, name="custom_fields", limit=5, current=5)
    page = owner_web.post(
        "/settings/custom-fields/new/", {"entity": "contact", "label": "Sixth", "type": "text"}
    )
    _assert_limit_page(page, limit=5, current=5)
    with tenant_context(tenant_a):
        assert CustomField.objects.count() == 5
        field = CustomField.objects.get(key="f0")
    # Existing definitions stay editable.
    renamed = api.patch(
        f"/api/v1/custom-fields/{field.pk}/", {"label": "Renamed"}, content_type="application/json"
    )
    assert renamed.status_code == 200, renamed.content


# Imports a day --------------------------------------------------------------------------


def test_imports_a_day_are_limited_and_a_retry_is_still_answered(
    tenant_a: Tenant, api: Client
) -> None:
    _move_to(tenant_a, "free")
    keys = []
    for n in range(3):
        keys.append(f"import-{n}")
        done = api.post(
            "/api/v1/contacts/import/",
            {"file": _csv(f"P{n}")},
            headers={"Idempotency-Key": keys[-1]},
        )
        assert done.status_code == 201, done.content
    refused = api.post(
        "/api/v1/leads/import/",
        {"file": SimpleUploadedFile("l.csv", b"First name,Last name\nLee,One\n")},
        headers={"Idempotency-Key": "import-4"},
    )
    _assert_plan_limit_problem(refused, name="imports_per_day", limit=3, current=3)
    replay = api.post(
        "/api/v1/contacts/import/", {"file": _csv("P0")}, headers={"Idempotency-Key": keys[0]}
    )
    assert replay.status_code in (200, 201), replay.content
    assert replay["Idempotent-Replayed"] == "true"
    with tenant_context(tenant_a):
        assert ContactImport.objects.count() == 3
        assert not Lead.objects.exists()


def test_an_import_service_retry_is_answered_past_the_daily_limit(
    tenant_a: Tenant, owner_a: User
) -> None:
    """The service's own idempotency (a page's retried form) answers before the limit."""
    _move_to(tenant_a, "free")
    content = b"First name,Email\nAnn,ann@svc.test\n"
    with tenant_context(tenant_a):
        first = services.contact_import(by=owner_a, content=content, idempotency_key="svc-1")
        for n in range(2):
            services.contact_import(
                by=owner_a, content=f"First name\nP{n}\n".encode(), idempotency_key=f"svc-{n + 2}"
            )
        again = services.contact_import(by=owner_a, content=content, idempotency_key="svc-1")
        assert (again.pk, again.replayed) == (first.pk, True)
        with pytest.raises(PlanLimitReached):
            services.contact_import(by=owner_a, content=b"First name\nNew\n")


# Seats, invitations and API tokens --------------------------------------------------------


def test_inviting_past_the_seats_is_refused_on_the_page_and_in_the_api(
    tenant_a: Tenant, owner_web: Client, api: Client
) -> None:
    _move_to(tenant_a, "free")  # the owner and the member take Free's two seats
    refused = api.post(
        "/api/v1/invitations/", {"email": "third@x.test"}, content_type="application/json"
    )
    _assert_plan_limit_problem(refused, name="seats", limit=2, current=2)
    page = owner_web.post("/settings/members/", {"email": "third@x.test", "role": Role.MEMBER})
    _assert_limit_page(page, limit=2, current=2)
    assert not Invitation.objects.filter(tenant=tenant_a, email="third@x.test").exists()


def test_accepting_an_invitation_takes_the_seat_it_held_without_asking_again(
    tenant_a: Tenant, owner_a: User
) -> None:
    plan = _move_to(tenant_a, "free")
    Plan.objects.filter(pk=plan.pk).update(limits={**plan.limits, "seats": 3})
    _, link = invitation_create(tenant=tenant_a, by=owner_a, email="new@x.test")
    assert entitlements.count(tenant_a, "seats") == 3  # full: two members, one invitation
    with pytest.raises(PlanLimitReached):
        invitation_create(tenant=tenant_a, by=owner_a, email="fourth@x.test")
    newcomer = UserFactory(email="new@x.test")
    membership = invitation_accept(raw=link.rstrip("/").rsplit("/", 1)[1], user=newcomer)
    assert membership.tenant_id == tenant_a.pk
    assert entitlements.count(tenant_a, "seats") == 3  # counted once, not twice


def test_reinviting_the_same_address_takes_no_second_seat(tenant_a: Tenant, owner_a: User) -> None:
    plan = _move_to(tenant_a, "free")
    Plan.objects.filter(pk=plan.pk).update(limits={**plan.limits, "seats": 3})
    invitation_create(tenant=tenant_a, by=owner_a, email="again@x.test")
    invitation_create(tenant=tenant_a, by=owner_a, email="again@x.test")  # replaces the first
    assert entitlements.count(tenant_a, "seats") == 3


def test_adding_a_member_directly_asks_for_a_seat_but_a_role_change_does_not(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    _move_to(tenant_a, "free")
    with pytest.raises(PlanLimitReached):
        membership_create(user=UserFactory(), tenant=tenant_a)
    assert Membership.objects.filter(tenant=tenant_a).count() == 2
    existing = membership_create(user=member_a, tenant=tenant_a, role=Role.ADMIN)
    assert existing.role == Role.ADMIN
    membership_role_change(membership=existing, by=owner_a, role=Role.MEMBER)


def test_api_tokens_past_the_limit_are_refused_on_the_page(
    tenant_a: Tenant, owner_web: Client, owner_a: User
) -> None:
    _move_to(tenant_a, "free")
    for n in range(2 - ApiToken.objects.filter(tenant=tenant_a, revoked_at=None).count()):
        api_token_create(user=owner_a, tenant=tenant_a, name=f"t{n}")
    with pytest.raises(PlanLimitReached):
        api_token_create(user=owner_a, tenant=tenant_a, name="third")
    page = owner_web.post("/settings/api-tokens/", {"name": "third"})
    _assert_limit_page(page, limit=2, current=2)
    assert ApiToken.objects.filter(tenant=tenant_a, revoked_at=None).count() == 2


# Isolation and races --------------------------------------------------------------------


def test_another_organizations_records_never_count(
    tenant_a: Tenant, tenant_b: Tenant, api: Client
) -> None:
    _fill_contacts(tenant_b, 50)
    with tenant_context(tenant_b):
        for n in range(6):
            CustomField.objects.create(entity="contact", key=f"b{n}", label=f"B{n}", position=n)
    invitation_create(
        tenant=tenant_b, by=User.objects.get(email="owner@beta.test"), email="b@x.test"
    )
    _move_to(tenant_a, "free")
    assert entitlements.count(tenant_a, "contacts") == 0
    assert entitlements.count(tenant_a, "custom_fields") == 0
    assert entitlements.count(tenant_a, "seats") == 2
    made = api.post(
        "/api/v1/custom-fields/",
        {"entity": "contact", "label": "Mine", "type": "text"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    # B is not refused for A's plan either: it is still on its trial.
    with tenant_context(tenant_b):
        services.contact_create(by=None, first_name="B's fifty-first")


def test_two_racing_invitations_for_the_last_seat_get_exactly_one() -> None:
    def prepare(tenant: Tenant) -> None:  # the owner alone: Free has one seat left
        plan = Plan.objects.get(code="free")
        Subscription.objects.filter(organization_id=tenant.pk).update(plan=plan)

    with committed_organization("seatrace", prepare) as tenant:
        owner = Membership.objects.get(tenant=tenant, role=Role.OWNER).user
        errors: list[BaseException] = []

        def invite(email: str) -> None:
            invitation_create(tenant=tenant, by=owner, email=email)

        threads = [
            start_on_own_connection(lambda e=e: invite(e), errors)
            for e in ("one@race.test", "two@race.test")
        ]
        for thread in threads:
            thread.join(timeout=60)
        assert len(errors) == 1 and isinstance(errors[0], PlanLimitReached)
        assert Invitation.objects.filter(tenant=tenant).count() == 1


# The API's schema ------------------------------------------------------------------------

LIMITED_POSTS = (
    "/api/v1/contacts/",
    "/api/v1/contacts/bulk/",
    "/api/v1/contacts/import/",
    "/api/v1/leads/import/",
    "/api/v1/deals/import/",
    "/api/v1/contacts/{id}/restore/",
    "/api/v1/leads/{id}/convert/",
    "/api/v1/custom-fields/",
    "/api/v1/invitations/",
)


def test_every_post_that_can_meet_a_limit_documents_the_402_plan_limit_problem(
    client_a: Client,
) -> None:
    from tests.config.test_api_docs import schema_of

    paths = schema_of(client_a)["paths"]
    for path in LIMITED_POSTS:
        answers = paths[path]["post"]["responses"]
        assert "402" in answers, path
        body = answers["402"]["content"]["application/problem+json"]["schema"]
        assert {"limit", "current", "upgrade_url"} <= set(body["properties"]), path
    assert "402" not in paths["/api/v1/companies/bulk/"]["post"]["responses"]


def test_two_racing_custom_fields_for_the_last_place_get_exactly_one() -> None:
    def prepare(tenant: Tenant) -> None:  # on Free, with four of its five custom fields
        Subscription.objects.filter(organization_id=tenant.pk).update(
            plan=Plan.objects.get(code="free")
        )
        for n in range(4):
            CustomField.objects.create(entity="company", key=f"f{n}", label=f"F{n}", position=n)

    with committed_organization("fieldrace", prepare) as tenant:
        errors: list[BaseException] = []

        def create(label: str) -> None:
            with tenant_context(tenant):
                services.custom_field_create(by=None, entity="contact", label=label, type="text")

        threads = [start_on_own_connection(lambda n=n: create(n), errors) for n in ("A", "B")]
        for thread in threads:
            thread.join(timeout=60)
        assert len(errors) == 1 and isinstance(errors[0], PlanLimitReached), errors
        assert _count_committed(tenant, CustomField) == 5


def test_two_racing_contacts_for_the_last_place_get_exactly_one() -> None:
    def prepare(tenant: Tenant) -> None:  # on Free, one contact short of its limit
        Subscription.objects.filter(organization_id=tenant.pk).update(
            plan=Plan.objects.get(code="free")
        )
        Contact.objects.bulk_create(Contact(first_name=f"P{i}") for i in range(FREE_CONTACTS - 1))

    with committed_organization("contactrace", prepare) as tenant:
        errors: list[BaseException] = []

        def create(name: str) -> None:
            with tenant_context(tenant):
                services.contact_create(by=None, first_name=name)

        threads = [start_on_own_connection(lambda n=n: create(n), errors) for n in ("A", "B")]
        for thread in threads:
            thread.join(timeout=60)
        assert len(errors) == 1 and isinstance(errors[0], PlanLimitReached), errors
        assert _count_committed(tenant, Contact) == FREE_CONTACTS


def _count_committed(tenant: Tenant, model: type[Contact] | type[CustomField]) -> int:
    """The committed rows, read on a connection of its own: a read in the test's transaction
    would hold a lock on the organization's table until the test ends, and the schema could
    not be dropped afterwards."""
    found: list[int] = []

    def read() -> None:
        with tenant_context(tenant):
            found.append(model._default_manager.count())

    run_on_own_connection(read)
    return found[0]
