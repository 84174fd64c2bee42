"""The CRM set-up (pipelines, products, scoring rules) is for the set-up right, read by every
member; the dashboard's figures count only the records the member may view."""

from django_tenants.utils import tenant_context

from crm.models import Pipeline, Product
from iam.models import Role, User
from tenants.models import Tenant

from .access_support import api, browser, denied, member, scoped
from .factories import DealFactory, LeadFactory, ProductFactory

SET_UP = {"admin.custom_fields": "all"}


def test_set_up_pages_are_for_the_set_up_right(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        plain = member(tenant_a)
        keeper = member(tenant_a, Role.MEMBER, keeper=SET_UP)
    page = browser(plain, tenant_a)
    for path in ("/settings/pipelines/", "/settings/scoring/"):
        refused = page.get(path)
        assert refused.status_code == 403
        assert "None of your roles (Member) includes the CRM set-up right." in (
            refused.content.decode()
        )
    assert page.post("/settings/pipelines/new/", {"name": "Renewals"}).status_code == 403

    keeper_page = browser(keeper, tenant_a)
    assert keeper_page.get("/settings/pipelines/").status_code == 200
    assert keeper_page.get("/settings/scoring/").status_code == 200
    assert keeper_page.post("/settings/pipelines/new/", {"name": "Renewals"}).status_code == 302
    with tenant_context(tenant_a):
        assert Pipeline.objects.filter(name="Renewals").exists()


def test_members_read_products_and_the_set_up_right_changes_them(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        plain = member(tenant_a)
        keeper = member(tenant_a, Role.READ_ONLY, keeper=SET_UP)
        ProductFactory(name="Onboarding")
    listed = browser(plain, tenant_a).get("/products/").content.decode()
    assert "Onboarding" in listed and "/products/new/" not in listed
    assert browser(plain, tenant_a).get("/products/new/").status_code == 403
    body = denied(
        api(plain, tenant_a).post(
            "/api/v1/products/",
            {"name": "Audit", "price": "10.00", "currency": "EUR"},
            "application/json",
        )
    )
    assert "CRM set-up" in body["detail"]

    assert "/products/new/" in browser(keeper, tenant_a).get("/products/").content.decode()
    made = api(keeper, tenant_a).post(
        "/api/v1/products/",
        {"name": "Audit", "price": "10.00", "currency": "EUR"},
        "application/json",
    )
    assert made.status_code == 201, made.content
    with tenant_context(tenant_a):
        assert Product.objects.filter(name="Audit").exists()


def test_the_dashboard_counts_only_what_the_member_may_view(
    tenant_a: Tenant, member_a: User
) -> None:
    rights = {**scoped("deal", "own"), **scoped("lead", "own")}
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=rights)
        DealFactory(owner_id=rep.pk, currency="NOK")
        DealFactory.create_batch(3, owner_id=member_a.pk, currency="EUR")
        LeadFactory.create_batch(2, owner_id=member_a.pk)
    board = browser(rep, tenant_a).get("/")
    assert board.status_code == 200
    counts = board.context["counts"]
    assert counts["deals"] == 1 and counts["leads"] == 0 and counts["contacts"] == 0
    assert board.context["board"].currency == "NOK"
    everyone = browser(member_a, tenant_a).get("/").context["counts"]
    assert everyone["deals"] == 4 and everyone["leads"] == 2
