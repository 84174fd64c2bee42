"""HTML pages of leads: the list with filters and sortable columns, the form, the lead's page
with its status actions, owner and conversion, and deletion."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST

from crm import decisions
from crm.currencies import CURRENCY_HELP, currency_clean
from crm.exceptions import LeadAlreadyConverted, LeadDisqualified
from crm.forms import TaggedFormMixin
from crm.models import Lead, Pipeline
from crm.selectors.leads import LEAD_ORDERINGS, LeadFilters, lead_get, lead_list
from crm.services.leads import (
    lead_convert,
    lead_create,
    lead_delete,
    lead_owner_set,
    lead_status_set,
    lead_update,
)
from iam import authz
from iam.authz.guards import requires
from pii.exceptions import KeyServiceUnavailable
from problems.exceptions import InvalidFields
from problems.forms import add_field_errors

from . import lists

PAGE_SIZE = 25
_KEY_SERVICE_DOWN = (
    "E-mail addresses and phone numbers are stored encrypted and the key service is "
    "unreachable right now, so nothing was saved. Please try again in a moment."
)


def _owner_choices(members: dict[int, str]) -> list[tuple[str, str]]:
    return [("", "Nobody"), *((str(pk), name) for pk, name in members.items())]


class LeadFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Lead.Status.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Lead.Source.choices])
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    mine = forms.BooleanField(required=False, label="Only mine")
    tag = forms.CharField(required=False, max_length=50)
    ordering = forms.ChoiceField(
        required=False,
        choices=[(v, v) for key in LEAD_ORDERINGS for v in (key, f"-{key}")],
    )

    def __init__(self, *args: Any, members: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.TypedChoiceField)  # noqa: S101 - declared above
        owner.choices = [("", "Any owner"), *((str(pk), e) for pk, e in members.items())]


class LeadForm(TaggedFormMixin, forms.ModelForm):
    owner_id = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)

    class Meta:
        model = Lead
        fields = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "company_name",
            "source",
            "status",
            "disqualified_reason",
        )
        labels = {"company_name": "Company", "disqualified_reason": "Reason for disqualifying"}
        help_texts = {"disqualified_reason": "Required when the status is Disqualified."}
        widgets = {"phone": forms.TextInput(attrs={"type": "tel"})}

    def __init__(self, *args: Any, members: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner_id"]
        assert isinstance(owner, forms.TypedChoiceField)  # noqa: S101 - declared above
        owner.choices = _owner_choices(members)
        if self.instance.pk:
            self.initial["owner_id"] = self.instance.owner_id

    def _post_clean(self) -> None:
        """The services validate the lead (statuses, reasons, owners), not the model form."""


class LeadConvertForm(forms.Form):
    create_deal = forms.BooleanField(required=False, label="Also create a deal")
    deal_name = forms.CharField(required=False, max_length=200, label="Deal name")
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.none(), required=False, empty_label=None
    )
    amount = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2, label="Amount"
    )
    currency = forms.CharField(max_length=3, initial="USD", label="Currency")
    confirm_disqualified = forms.BooleanField(
        required=False, label="Convert it although it is disqualified"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipeline = self.fields["pipeline"]
        assert isinstance(pipeline, forms.ModelChoiceField)  # noqa: S101 - declared above
        pipeline.queryset = Pipeline.objects.filter(is_archived=False).order_by(
            "-is_default", "name"
        )

    def clean_currency(self) -> str:
        code = currency_clean(self.cleaned_data.get("currency"))
        if code is None:
            raise forms.ValidationError(CURRENCY_HELP)
        return code


@login_required
@requires("lead.view")
def lead_list_page(request: HttpRequest) -> HttpResponse:
    members = lists.member_names(request)
    form = LeadFilterForm(request.GET or None, members=members)
    filters, ordering = LeadFilters(), ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = LeadFilters(
            q=data["q"].strip(),
            status=data["status"],
            source=data["source"],
            owner_id=data["owner"],
            mine_of=request.user.pk if data["mine"] else None,
            tag=" ".join(data["tag"].split()),
        )
        ordering = data["ordering"]
    leads = lead_list(
        filters=filters, ordering=ordering, principal=decisions.principal_of(request)
    ).prefetch_related("tags")
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    for lead in page:
        lead.owner_label = members.get(lead.owner_id or 0, "")  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    current = ordering or "-created"
    return render(
        request,
        "crm/leads/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "ordering": current,
            "heads": lists.sort_heads(request, LEAD_ORDERINGS, current, largest_first={"score"}),
            "chrome": lists.list_chrome(request, "leads", members),
            "may_create": authz.may(decisions.principal_of(request), "lead.create"),
            "filtered": any(form.cleaned_data.values())
            if form.is_bound and form.is_valid()
            else False,
        },
    )


def _deal_url(deal_id: int | None) -> str:
    """The deal's page, once deals have pages; "" otherwise."""
    if deal_id is None:
        return ""
    try:
        return reverse("crm:deal_detail", args=[deal_id])
    except NoReverseMatch:
        return ""


def _detail(
    request: HttpRequest,
    lead: Lead,
    *,
    convert_form: LeadConvertForm | None = None,
    status_error: str = "",
    status: int = 200,
) -> HttpResponse:
    members = lists.member_names(request)
    principal = decisions.principal_of(request)
    return render(
        request,
        "crm/leads/detail.html",
        {
            "lead": lead,
            # What the member may do to this lead: the buttons they can't use are hidden.
            "may_edit": authz.check(principal, "edit", record=lead).allowed,
            "may_delete": authz.check(principal, "delete", record=lead).allowed,
            "may_assign": authz.check(principal, "assign", record=lead).allowed,
            "owner": members.get(lead.owner_id) if lead.owner_id else None,
            "owner_choices": _owner_choices(members),
            "statuses": Lead.Status,
            "convert_form": convert_form
            or LeadConvertForm(initial={"deal_name": lead.company_name}),
            "convert_open": convert_form is not None and status != 200,
            "status_error": status_error,
            "deal_url": _deal_url(lead.converted_deal_id),
        },
        status=status,
    )


def _lead(request: HttpRequest, pk: int) -> Lead:
    """The lead of the page if the member may view it; 404 otherwise, as if missing."""
    try:
        return lead_get(pk=pk, principal=decisions.principal_of(request))
    except Lead.DoesNotExist:
        raise Http404("No such lead.") from None


@login_required
@requires("lead.view")
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _lead(request, pk))


@login_required
@requires("lead.edit")
@require_http_methods(["GET", "POST"])
def lead_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    principal = decisions.principal_of(request)
    lead = _lead(request, pk) if pk else None
    if lead is None:
        authz.require(principal, "create", record_type="lead")
    else:
        authz.require(principal, "edit", record=lead)
    initial = {"owner_id": request.user.pk} if lead is None else None
    form = LeadForm(
        request.POST or None, instance=lead, initial=initial, members=lists.member_names(request)
    )
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data}
        try:
            if lead is None:
                lead = lead_create(by=request.user, **data)
                messages.success(request, f"Lead {lead.full_name} created.")
            else:
                decisions.owner_change_require(principal, lead, data)
                lead = lead_update(lead=lead, by=request.user, **data)
                messages.success(request, "Changes saved.")
        except InvalidFields as exc:
            for field, notes in exc.field_errors().items():
                for note in notes:
                    form.add_error(field if field in form.fields else None, note)
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        else:
            return redirect("crm:lead_detail", pk=lead.pk)
    return render(request, "crm/leads/form.html", {"form": form, "lead": lead}, status=status)


@login_required
@requires("lead.edit")
@require_POST
def lead_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the lead to another status; disqualifying needs a reason."""
    lead = _lead(request, pk)
    decisions.record_require(request, "edit", lead)
    try:
        lead_status_set(
            lead=lead,
            by=request.user,
            status=request.POST.get("status", ""),
            reason=request.POST.get("disqualified_reason", ""),
        )
    except InvalidFields as exc:
        notes = [n for messages_ in exc.field_errors().values() for n in messages_]
        return _detail(request, lead_get(pk=pk), status_error=" ".join(notes), status=400)
    messages.success(request, f"{lead.full_name} is now {lead.get_status_display().lower()}.")
    return redirect("crm:lead_detail", pk=pk)


@login_required
@requires("lead.assign")
@require_POST
def lead_owner(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    decisions.record_require(request, "assign", lead)
    raw = request.POST.get("owner_id", "")
    try:
        owner_id = int(raw) if raw else None
        lead_owner_set(lead=lead, by=request.user, owner_id=owner_id)
    except (ValueError, InvalidFields):
        messages.error(request, "Choose a member of the organization as the owner.")
    else:
        messages.success(request, "Owner changed.")
    return redirect("crm:lead_detail", pk=pk)


@login_required
@requires("lead.edit")
@require_POST
def lead_convert_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Convert the lead (the Convert dialog of its page); a disqualified one needs the
    confirmation box ticked. Lands on the new deal (or contact)."""
    lead = _lead(request, pk)
    decisions.record_require(request, "edit", lead)
    form = LeadConvertForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        decisions.lead_convert_require(
            decisions.principal_of(request), lead, create_deal=data["create_deal"]
        )
        try:
            result = lead_convert(
                lead=lead,
                by=request.user,
                create_deal=data["create_deal"],
                deal_name=data["deal_name"],
                pipeline=data["pipeline"],
                amount=data["amount"],
                currency=data["currency"],
                confirm_disqualified=data["confirm_disqualified"],
            )
        except LeadDisqualified as exc:
            form.add_error("confirm_disqualified", exc.detail)
            status = 409
        except LeadAlreadyConverted as exc:
            messages.error(request, exc.detail)
            return redirect("crm:lead_detail", pk=pk)
        except InvalidFields as exc:
            add_field_errors(form, exc)
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        else:
            messages.success(request, f"{lead.full_name} was converted.")
            deal_url = _deal_url(result.deal.pk if result.deal else None)
            return redirect(deal_url or reverse("crm:contact_detail", args=[result.contact.pk]))
    return _detail(request, lead_get(pk=pk), convert_form=form, status=status)


@login_required
@requires("lead.delete")
@require_POST
def lead_delete_page(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    decisions.record_require(request, "delete", lead)
    lead_delete(lead=lead, by=request.user)
    messages.success(request, f"Lead {lead.full_name} moved to the trash.")
    return redirect("crm:lead_list")
