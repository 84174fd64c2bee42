"""HTML pages of deals: the list (cards on a phone), the form, the deal's page with its stage
history, and the pipeline board, whose cards are dragged between stages."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import decisions
from crm.currencies import CURRENCY_HELP, currency_clean
from crm.exceptions import StageInAnotherPipeline
from crm.forms import TagsFormField
from crm.models import Company, Contact, Deal, Pipeline, Stage
from crm.selectors.deals import (
    DEAL_ORDERINGS,
    DealFilters,
    board_columns,
    deal_get,
    deal_list,
    deal_stage_changes,
    pipeline_list,
)
from crm.selectors.search import clean_query, search
from crm.services.deals import deal_create, deal_delete, deal_move, deal_update
from iam import authz
from iam.authz.guards import requires
from iam.exceptions import AccessDenied
from problems.exceptions import DomainError, InvalidFields
from problems.forms import add_field_errors

from . import lists

PAGE_SIZE = 25


def _choices(members: dict[int, str], empty: str) -> list[tuple[str, str]]:
    return [("", empty), *((str(pk), name) for pk, name in members.items())]


class DealFilterForm(forms.Form):
    """Filters of the list and the board (the board ignores `pipeline`, chosen in its URL)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.none(), required=False, empty_label="Any pipeline"
    )
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    mine = forms.BooleanField(required=False, label="Only mine")
    tag = forms.CharField(required=False, max_length=50)
    close_from = forms.DateField(
        required=False, label="Closing from", widget=forms.DateInput(attrs={"type": "date"})
    )
    close_to = forms.DateField(
        required=False, label="Closing until", widget=forms.DateInput(attrs={"type": "date"})
    )
    ordering = forms.ChoiceField(required=False, choices=[(k, k) for k in DEAL_ORDERINGS])
    # Reached from the dashboard's charts (a stage's bar, a month's won deals).
    stage = forms.ModelChoiceField(queryset=Stage.objects.all(), required=False)
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("open", "Open"), ("won", "Won"), ("lost", "Lost")],
    )
    closed_from = forms.DateField(required=False, label="Closed from")
    closed_to = forms.DateField(required=False, label="Closed until")

    def __init__(self, *args: Any, members: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = _choices(members, "Any owner")  # type: ignore[attr-defined]
        self.fields["pipeline"].queryset = pipeline_list()  # type: ignore[attr-defined]

    def owner_id(self, user_id: int | None) -> int | None:
        if not (self.is_bound and self.is_valid()):
            return None
        return user_id if self.cleaned_data["mine"] else self.cleaned_data["owner"]

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_bound and self.is_valid() else None


class DealForm(forms.Form):
    name = forms.CharField(max_length=200)
    pipeline = forms.ModelChoiceField(queryset=Pipeline.objects.none(), empty_label=None)
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(),
        required=False,
        help_text="A stage of the pipeline; its first stage when left empty.",
    )
    amount = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, initial=0)
    currency = forms.CharField(max_length=3, initial="EUR", help_text=CURRENCY_HELP)
    tags = TagsFormField()
    company = forms.ModelChoiceField(queryset=Company.objects.none(), required=False)
    # Chosen with the search-as-you-type picker (deal_contact_options), never listed whole:
    # the form only reads the contacts it is sent.
    contacts = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.all(), required=False, widget=forms.MultipleHiddenInput
    )
    primary_contact = forms.ModelChoiceField(
        queryset=Contact.objects.all(),
        required=False,
        widget=forms.HiddenInput,
        help_text="One of the contacts.",
    )
    expected_close_on = forms.DateField(
        required=False, label="Expected close", widget=forms.DateInput(attrs={"type": "date"})
    )
    owner_id = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    lost_reason = forms.CharField(max_length=200, required=False, label="Lost reason")

    def __init__(
        self,
        *args: Any,
        members: dict[int, str],
        principal: authz.Principal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields

        def seen(qs: Any, record_type: str, kept: Any) -> Any:
            # Pickers offer (and accept) only what the member may view, in the query, and
            # what the deal already has (an edit keeps it).
            if principal is None:
                return qs
            ids = [i for i in (kept if isinstance(kept, list) else [kept]) if i]
            return authz.visible(qs, principal, record_type) | qs.filter(pk__in=ids)

        kept_contacts = self.initial.get("contacts") or []
        fields["contacts"].queryset = seen(Contact.objects.all(), "contact", kept_contacts)
        fields["primary_contact"].queryset = seen(Contact.objects.all(), "contact", kept_contacts)
        fields["pipeline"].queryset = pipeline_list()
        fields["stage"].queryset = Stage.objects.filter(
            is_archived=False, pipeline__is_archived=False
        ).select_related("pipeline")
        fields["stage"].label_from_instance = lambda s: f"{s.pipeline.name}: {s.name}"
        kept_company = self.initial.get("company")
        fields["company"].queryset = seen(Company.objects.order_by("name"), "company", kept_company)
        # A deal whose company is in the trash keeps it when edited (see ContactForm).
        company_id = self.initial.get("company")
        trashed = Company.trashed.filter(pk=company_id).first() if company_id else None
        if trashed is not None:
            fields["company"].queryset = (
                seen(Company.with_trashed.all(), "company", kept_company)
                .filter(Q(deleted_at__isnull=True) | Q(pk=trashed.pk))
                .order_by("name")
            )
            fields[
                "company"
            ].help_text = f"{trashed} is in the trash; restore it from the Trash page."
        fields["owner_id"].choices = _choices(members, "Nobody")

    def _ids(self, name: str) -> list[int]:
        key = self.add_prefix(name)
        if self.is_bound and isinstance(self.data, QueryDict):
            raw: Any = self.data.getlist(key)
        else:
            raw = self.data.get(key) if self.is_bound else self.initial.get(name)
        values = raw if isinstance(raw, list) else [raw]
        return [int(v) for v in values if str(v).isdigit()]

    def chosen_contacts(self) -> list[tuple[Contact, bool]]:
        """The contacts the form holds (sent, or the deal's own), each with whether it is
        the primary one, in one statement."""
        ids = self._ids("contacts")
        if not ids:
            return []
        primary = self._ids("primary_contact")
        contacts = self.fields["contacts"].queryset  # type: ignore[attr-defined]
        found = contacts.filter(pk__in=ids).order_by("first_name", "last_name", "id")
        return [(contact, contact.pk in primary) for contact in found]

    def clean_currency(self) -> str:
        code = currency_clean(self.cleaned_data.get("currency"))
        if code is None:
            raise forms.ValidationError(CURRENCY_HELP)
        return code

    @classmethod
    def initial_of(cls, deal: Deal) -> dict[str, Any]:
        links = list(deal.deal_contacts.all())
        return {
            "name": deal.name,
            "pipeline": deal.pipeline_id,
            "stage": deal.stage_id,
            "amount": deal.amount,
            "currency": deal.currency,
            "company": deal.company_id,
            "contacts": [link.contact_id for link in links],
            "primary_contact": next((x.contact_id for x in links if x.is_primary), None),
            "expected_close_on": deal.expected_close_on,
            "owner_id": deal.owner_id,
            "lost_reason": deal.lost_reason,
            "tags": ", ".join(sorted((t.name for t in deal.tags.all()), key=str.casefold)),
        }


def duration(seconds: int | None) -> str:
    """How long a deal stayed in a stage, in words: "3 d 4 h", "2 h 5 min", "40 s"."""
    if seconds is None:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"


@login_required
@requires("deal.view")
def deal_list_page(request: HttpRequest) -> HttpResponse:
    members = lists.member_names(request)
    form = DealFilterForm(request.GET or None, members=members)
    filters, ordering = DealFilters(), ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        pipeline = data["pipeline"]
        filters = DealFilters(
            search=data["q"].strip(),
            pipeline=pipeline.pk if pipeline else None,
            owner=form.owner_id(request.user.pk),
            tag=data["tag"].strip(),
            close_from=data["close_from"],
            close_to=data["close_to"],
            stage=data["stage"].pk if data["stage"] else None,
            outcome=data["outcome"],
            closed_from=data["closed_from"],
            closed_to=data["closed_to"],
        )
        ordering = data["ordering"]
    deals = deal_list(
        filters=filters, ordering=ordering, principal=decisions.principal_of(request)
    ).select_related("company")
    page = Paginator(deals, PAGE_SIZE).get_page(request.GET.get("page"))
    for deal in page:
        deal.owner_label = members.get(deal.owner_id or 0, "")  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    current = ordering or "-created_at"
    return render(
        request,
        "crm/deals/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "pipelines": pipeline_list(),
            "ordering": current,
            "heads": lists.sort_heads(
                request, ("name", "amount", "expected_close_on", "created_at"), current
            ),
            "chrome": lists.list_chrome(request, "deals", members),
            "may_create": authz.may(decisions.principal_of(request), "deal.create"),
        },
    )


@login_required
@requires("deal.view")
def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = deal_get(pk, principal=decisions.principal_of(request))
    if deal is None:
        raise Http404("No such deal.")
    members = lists.member_names(request)
    history = [
        (change, members.get(change.by_id or 0, ""), duration(change.seconds_in_from_stage))
        for change in deal_stage_changes(deal)[:100]
    ]
    principal = decisions.principal_of(request)
    return render(
        request,
        "crm/deals/detail.html",
        {
            "deal": deal,
            # What the member may do to this deal: the buttons they can't use are hidden.
            "may_edit": authz.check(principal, "edit", record=deal).allowed,
            "may_delete": authz.check(principal, "delete", record=deal).allowed,
            "owner_label": members.get(deal.owner_id or 0, ""),
            "history": history,
            "contacts": list(deal.deal_contacts.all()),
        },
    )


@login_required
@requires("deal.edit")
@require_http_methods(["GET", "POST"])
def deal_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    principal = decisions.principal_of(request)
    deal = deal_get(pk, principal=principal) if pk else None
    if pk and deal is None:
        raise Http404("No such deal.")
    if deal is None:
        authz.require(principal, "create", record_type="deal")
    else:
        authz.require(principal, "edit", record=deal)
    members = lists.member_names(request)
    initial: dict[str, Any] = {"owner_id": request.user.pk}
    if deal is not None:
        initial = DealForm.initial_of(deal)
    else:
        default = pipeline_list().first()
        initial["pipeline"] = default.pk if default else None
        for key in ("company", "pipeline", "stage"):
            if request.GET.get(key, "").isdigit():
                initial[key] = int(request.GET[key])
    form = DealForm(request.POST or None, initial=initial, members=members, principal=principal)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if data["stage"] is None:
            data.pop("stage")
        data["contacts"] = list(data["contacts"])
        try:
            if deal is None:
                deal = deal_create(by=request.user, **data)
                messages.success(request, f"Deal {deal.name} created.")
            else:
                decisions.deal_change_require(principal, deal, data)
                deal = deal_update(deal=deal, by=request.user, **data)
                messages.success(request, "Changes saved.")
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
            status = exc.status
        else:
            return redirect("crm:deal_detail", pk=deal.pk)
    return render(request, "crm/deals/form.html", {"form": form, "deal": deal}, status=status)


CONTACT_OPTIONS = 10


@login_required
@requires("contact.view")
@require_GET
def deal_contact_options(request: HttpRequest) -> HttpResponse:
    """The deal form's contact picker: the contacts best matching what is typed (with typos
    and prefixes, as the search box finds them) among those the member may view, at most
    ten, in one statement."""
    text = request.GET.get("q", "")
    principal = decisions.principal_of(request)
    found = search(text=text, types=["contacts"], limit=CONTACT_OPTIONS, principal=principal)
    hits = found["contacts"]
    response = render(
        request, "crm/deals/_contact_options.html", {"hits": hits, "q": clean_query(text)}
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@requires("deal.delete")
@require_POST
def deal_delete_page(request: HttpRequest, pk: int) -> HttpResponse:
    deal = decisions.visible_get(Deal.objects.all(), request, "deal", pk)
    decisions.record_require(request, "delete", deal)
    deal_delete(deal=deal, by=request.user)
    messages.success(request, f"Deal {deal.name} moved to the trash.")
    return redirect("crm:deal_list")


def _board_filters(form: DealFilterForm, request: HttpRequest) -> dict[str, Any]:
    return {
        "owner": form.owner_id(request.user.pk),
        "close_from": form.value("close_from"),
        "close_to": form.value("close_to"),
        "tag": (form.value("tag") or "").strip(),
    }


@login_required
@requires("deal.view")
def deal_board(request: HttpRequest, pipeline_pk: int | None = None) -> HttpResponse:
    """The board of one pipeline (the default one unless chosen): a column per open stage
    with its count and total value per currency, and the cards in their order."""
    pipelines = list(pipeline_list())
    if pipeline_pk is None:
        if not pipelines:
            raise Http404("No pipeline.")
        pipeline = pipelines[0]
    else:
        pipeline = get_object_or_404(Pipeline, pk=pipeline_pk)
    members = lists.member_names(request)
    form = DealFilterForm(request.GET or None, members=members)
    columns = board_columns(
        pipeline=pipeline,
        principal=decisions.principal_of(request),
        **_board_filters(form, request),
    )
    # The cards the member may move, found in one query (roles, teams, shares); the others
    # show without their move menu and can't be dragged.
    principal = decisions.principal_of(request)
    shown = [deal.pk for column in columns for deal in column.deals]
    movable = decisions.ids_allowed(Deal, shown, principal, "deal", "move")
    for column in columns:
        for deal in column.deals:
            deal.owner_label = members.get(deal.owner_id or 0, "")  # type: ignore[attr-defined]
            deal.may_move = deal.pk in movable  # type: ignore[attr-defined]
    query = request.GET.urlencode()
    return render(
        request,
        "crm/deals/board.html",
        {
            "pipeline": pipeline,
            "pipelines": pipelines,
            "columns": columns,
            "form": form,
            "query": query,
            "filtered": form.is_bound and form.is_valid() and any(form.cleaned_data.values()),
            "may_create": authz.may(principal, "deal.create"),
        },
    )


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.all())
    position = forms.IntegerField(min_value=0, required=False)
    lost_reason = forms.CharField(max_length=200, required=False)


@login_required
@requires("deal.move")
@require_POST
def deal_board_move(request: HttpRequest, pk: int) -> HttpResponse:
    """A card dropped on the board or moved with its "Move to…" buttons: save the move (with
    the lost reason asked for a lost stage), and answer with the columns' new counts and
    totals (htmx swaps them in place), or go back to the board without htmx; 409 for a stage
    of another pipeline. A move the member may not make (a policy keeping large deals from Won,
    say) is refused with its reason: as text for the board's script, else the 403 page."""
    principal = decisions.principal_of(request)
    deal = decisions.visible_get(Deal.objects.all(), request, "deal", pk)
    form = MoveForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose a stage and a position.", status=400, content_type="text/plain")
    try:
        decisions.deal_move_require(principal, deal, form.cleaned_data["stage"])
    except AccessDenied as exc:
        if not request.headers.get("HX-Request"):
            raise
        return HttpResponse(exc.detail, status=exc.status, content_type="text/plain")
    try:
        deal_move(
            deal=deal,
            stage=form.cleaned_data["stage"],
            position=form.cleaned_data["position"],
            by=request.user,
            lost_reason=form.cleaned_data["lost_reason"] or None,
        )
    except StageInAnotherPipeline as exc:
        return HttpResponse(exc.detail, status=exc.status, content_type="text/plain")
    except InvalidFields as exc:
        return HttpResponse(
            " ".join(m for ms in exc.errors.values() for m in ms),
            status=400,
            content_type="text/plain",
        )
    if not request.headers.get("HX-Request"):
        stage = form.cleaned_data["stage"]
        messages.success(request, f"{deal.name} moved to {stage.name}.")
        board = reverse("crm:deal_board_pipeline", args=[deal.pipeline_id])
        return redirect(f"{board}?{request.GET.urlencode()}" if request.GET else board)
    members = lists.member_names(request)
    filters_form = DealFilterForm(request.GET or None, members=members)
    columns = board_columns(
        pipeline=deal.pipeline, principal=principal, **_board_filters(filters_form, request)
    )
    return render(request, "crm/deals/_board_summaries.html", {"columns": columns})
