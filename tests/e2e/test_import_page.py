"""The import page in a real browser: a dry run shows the rows to fix beside everything else
the file would do, and the file chosen for it stays chosen for the import that follows."""

import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Contact
from tenants.models import Tenant

from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

GOOD = (
    "Name;E-mail;Company\nAda Lovelace;ada@engine.test;Engines\n"
    "Grace Hopper;grace@cobol.test;\nAda again; ADA@engine.test ;\n"
)


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _choose(page: Any, text: str) -> None:
    page.set_input_files(
        "input[name=file]", {"name": "people.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )


def _chosen(page: Any) -> list[str]:
    return list(page.eval_on_selector("input[name=file]", "e => [...e.files].map(f => f.name)"))


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
)
def test_a_dry_run_shows_the_whole_picture_and_the_same_file_is_then_imported(
    live_url: str, browser: Any, slug: str, viewport: dict[str, int]
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Careful Importers")
    page.goto(f"{host}/contacts/import/")
    tenant = Tenant.objects.get(slug=slug)

    _choose(page, GOOD + "Bad Row;not-an-address;\n")
    page.check("input[name=dry_run]")
    page.click("form:has(input[name=file]) button[type=submit]")
    page.wait_for_selector("[data-testid=row-errors]")
    assert "Row 5, Email" in page.inner_text("[data-testid=row-errors]")
    assert page.locator("[data-testid=import-counts]").is_visible()  # beside the errors
    assert page.inner_text("[data-count=created]") == "2"
    assert page.inner_text("[data-count=skipped]") == "1"
    assert "Same contact as row 2" in page.content()
    assert _chosen(page) == ["people.csv"]  # still chosen

    _choose(page, GOOD)  # the fixed file
    page.click("form:has(input[name=file]) button[type=submit]")
    page.wait_for_selector(":text('The file is ready to import')")
    with tenant_context(tenant):
        assert not Contact.objects.exists()
    assert _chosen(page) == ["people.csv"]

    page.click("[data-testid=import-now]")  # no need to choose the file again
    page.wait_for_selector(":text('Imported people.csv')")
    assert page.inner_text("[data-count=created]") == "2"
    with tenant_context(tenant):
        assert sorted(c.email for c in Contact.objects.all()) == [
            "ada@engine.test",
            "grace@cobol.test",
        ]
    context.close()
