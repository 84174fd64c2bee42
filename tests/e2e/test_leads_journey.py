"""A sales rep, in a real browser, creates a lead, qualifies it, converts it with a deal and
lands on what it became; on a phone the lead list shows cards and the lead's page passes
axe-core."""

import re
import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Deal, Lead
from tenants.models import Tenant

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_create_qualify_and_convert_a_lead_with_a_deal(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Lead Journey Org")

    page.click("nav[aria-label=Main] >> text=Leads")
    page.wait_for_url(f"{host}/leads/")
    page.click("text=New lead")
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hopper")
    page.fill("input[name=email]", "grace@cobol.test")
    page.fill("input[name=company_name]", "Cobol Works")
    page.select_option("select[name=source]", "event")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/leads/\d+/"))
    lead_url = page.url

    page.click("button:has-text('Mark qualified')")
    page.wait_for_url(lead_url)
    assert page.inner_text("[data-testid=lead-status]") == "Qualified"

    page.click("button:has-text('Convert')")
    dialog = page.locator("#convert-dialog")
    assert dialog.is_visible()
    dialog.locator("input[name=create_deal]").check()
    dialog.locator("input[name=deal_name]").fill("Cobol modernisation")
    dialog.locator("input[name=amount]").fill("48000")
    dialog.locator("input[name=currency]").fill("EUR")
    dialog.locator("button:has-text('Convert lead')").click()
    page.wait_for_url(re.compile(rf"{re.escape(host)}/(deals|contacts)/\d+/"))
    assert "converted" in page.content()

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        lead = Lead.objects.select_related("converted_deal").get(last_name="Hopper")
        assert lead.converted_deal is not None
        deal = Deal.objects.get(pk=lead.converted_deal.pk)
        assert (deal.name, str(deal.amount), deal.currency) == (
            "Cobol modernisation",
            "48000.00",
            "EUR",
        )
        contact_url = f"/contacts/{lead.converted_contact_id}/"
    if "/contacts/" in page.url:
        assert page.url.endswith(contact_url)
        assert "grace@cobol.test" in page.content()
    else:
        assert page.url.endswith(f"/deals/{deal.pk}/")
        assert "Cobol modernisation" in page.content()

    page.goto(lead_url)
    converted = page.locator("[data-testid=converted]")
    assert "Cobol Works" in converted.inner_text()
    converted.locator(f"a[href='{contact_url}']").click()
    page.wait_for_url(f"{host}{contact_url}")
    assert "Grace Hopper" in page.content()


def test_on_a_phone_leads_are_cards_and_the_lead_page_is_accessible(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Lead Phone Org")
    page.goto(f"{host}/leads/new/")
    page.fill("input[name=last_name]", "Wide" + "x" * 80)
    page.fill("input[name=company_name]", "A company with a rather long name indeed")
    page.select_option("select[name=status]", "disqualified")
    page.fill("input[name=disqualified_reason]", "Student project")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/leads/\d+/"))
    lead_url = page.url
    assert serious_violations(page) == []

    # Converting a disqualified lead asks for a confirmation first.
    page.click("button:has-text('Convert')")
    page.locator("#convert-dialog button:has-text('Convert lead')").click()
    page.wait_for_url(f"{lead_url}convert/")  # the lead's page again, answering the form
    dialog = page.locator("#convert-dialog")
    assert dialog.is_visible()
    assert "confirm to convert anyway" in dialog.inner_text()
    assert serious_violations(page) == []

    page.goto(f"{host}/leads/")
    assert page.locator("[data-testid=lead-cards] li").count() == 1
    assert not page.locator("table.table").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("document.documentElement.clientWidth")
    assert serious_violations(page) == []
