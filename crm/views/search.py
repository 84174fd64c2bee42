"""The search box on every page: results as you type (htmx), and the same results as a page
of their own when the box is submitted without scripts."""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from crm.selectors.search import TYPES, clean_query, search
from iam import authz
from iam.authz.guards import requires

_LABELS = {"contacts": "Contacts", "companies": "Companies", "leads": "Leads", "deals": "Deals"}
_PAGES = {
    "contacts": "crm:contact_detail",
    "companies": "crm:company_detail",
    "leads": "crm:lead_detail",
    "deals": "crm:deal_detail",
}
# In the box under the field, and on the page of results.
_LIMIT_AS_YOU_TYPE = 5
_LIMIT_ON_PAGE = 20


@dataclass(frozen=True)
class Shown:
    title: str
    subtitle: str
    url: str


@dataclass(frozen=True)
class Group:
    type: str
    label: str
    hits: list[Shown]


def _page_of(type_: str, pk: int) -> str | None:
    try:
        return reverse(_PAGES[type_], args=[pk])
    except NoReverseMatch:  # a type whose pages are not there
        return None


def _groups(text: str, limit: int, principal: authz.Principal | None) -> list[Group]:
    """The records found of each type, of those `principal` may view."""
    groups = []
    for type_, hits in search(text=text, types=TYPES, limit=limit, principal=principal).items():
        shown = [
            Shown(hit.title or "(no name)", hit.subtitle, url)
            for hit in hits
            if (url := _page_of(type_, hit.id)) is not None
        ]
        if shown:
            groups.append(Group(type_, _LABELS[type_], shown))
    return groups


@login_required
@requires("member")
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    text = clean_query(request.GET.get("q", ""))
    partial = bool(request.headers.get("HX-Request"))
    limit = _LIMIT_AS_YOU_TYPE if partial else _LIMIT_ON_PAGE
    groups = _groups(text, limit, authz.principal_for_request(request)) if text else []
    template = "crm/search/_results.html" if partial else "crm/search/page.html"
    response = render(request, template, {"q": text, "groups": groups})
    patch_vary_headers(response, ["HX-Request"])
    return response
