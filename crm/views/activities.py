"""HTML for activities: the "Log activity" panel and timeline on every record page, and the
My tasks page. The panel is an htmx island: logging an activity re-renders it in place."""

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from crm import decisions
from crm.models import Activity, Company, Contact, Deal, Lead
from crm.selectors import activities as selectors
from crm.services import activities as services
from iam import authz
from iam.authz.guards import requires
from iam.selectors import member_list
from problems.exceptions import InvalidFields
from problems.forms import add_field_errors

RECORD_MODELS: dict[str, type[Contact | Company | Lead | Deal]] = {
    "contact": Contact,
    "company": Company,
    "lead": Lead,
    "deal": Deal,
}
# The form's fields each kind shows, in order.
KIND_FORM_FIELDS: dict[str, tuple[str, ...]] = {
    Activity.Kind.NOTE: ("body",),
    Activity.Kind.CALL: ("direction", "outcome", "duration_minutes", "body"),
    Activity.Kind.MEETING: ("subject", "starts_at", "ends_at", "attendees", "body"),
    Activity.Kind.TASK: ("subject", "due_at", "assignee", "body"),
    Activity.Kind.EMAIL: ("direction", "subject", "body"),
}
# Service field → form field, where they differ.
_FORM_FIELD_OF = {"assignee_id": "assignee", "duration_seconds": "duration_minutes"}
# Neither users nor organizations have a time zone yet: times are read and shown in UTC.
_IN_UTC = "Date and time in UTC."
_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ActivityForm(forms.Form):
    """Every field an activity may have; the kind's own are shown (`KIND_FORM_FIELDS`) and
    the service checks the rules."""

    kind = forms.ChoiceField(choices=Activity.Kind.choices, widget=forms.HiddenInput)
    subject = forms.CharField(max_length=200, required=False)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Notes")
    due_at = forms.DateTimeField(required=False, widget=_DATETIME, label="Due", help_text=_IN_UTC)
    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    direction = forms.ChoiceField(choices=[("", "—"), *Activity.Direction.choices], required=False)
    outcome = forms.CharField(max_length=100, required=False)
    duration_minutes = forms.IntegerField(
        min_value=0, max_value=24 * 60, required=False, label="Duration (minutes)"
    )
    starts_at = forms.DateTimeField(
        required=False, widget=_DATETIME, label="Starts", help_text=_IN_UTC
    )
    ends_at = forms.DateTimeField(required=False, widget=_DATETIME, label="Ends")
    attendees = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(
        self,
        *args: Any,
        members: list[tuple[int, str]],
        people: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = members  # type: ignore[attr-defined]
        self.fields["attendees"].queryset = people  # type: ignore[attr-defined]
        kind = self["kind"].value()
        self.activity_kind = kind if kind in KIND_FORM_FIELDS else Activity.Kind.NOTE
        self.activity_kind_label = Activity.Kind(self.activity_kind).label
        self.fields["body"].label = (
            "Note" if self.activity_kind == Activity.Kind.NOTE else "Details"
        )
        if self.activity_kind == Activity.Kind.EMAIL:
            self.fields["body"].label = "Message"
            self.fields["direction"].choices = [  # type: ignore[attr-defined]
                ("", "—"),
                (Activity.Direction.INBOUND, "Received"),
                (Activity.Direction.OUTBOUND, "Sent"),
            ]
        needed = {
            Activity.Kind.NOTE: ("body",),
            Activity.Kind.CALL: ("direction",),
            Activity.Kind.MEETING: ("starts_at",),
            Activity.Kind.TASK: ("subject", "due_at", "assignee"),
            Activity.Kind.EMAIL: ("subject", "direction"),
        }[self.activity_kind]
        for name in needed:
            self.fields[name].required = True

    def shown_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in KIND_FORM_FIELDS[self.activity_kind]]

    def service_data(self) -> dict[str, Any]:
        """The cleaned values of the kind's own fields, named as the service names them."""
        data = self.cleaned_data
        values: dict[str, Any] = {}
        for name in KIND_FORM_FIELDS[self.activity_kind]:
            value = data.get(name)
            if name == "assignee":
                values["assignee_id"] = value
            elif name == "duration_minutes":
                values["duration_seconds"] = None if value is None else value * 60
            elif name == "attendees":
                values["attendees"] = list(value or [])
            else:
                values[name] = value
        return values


def record_url(record: Contact | Company | Lead | Deal) -> str:
    """The record's page (where a page of its type exists; else the list of My tasks)."""
    name = selectors.record_field(record)
    try:
        return reverse(f"crm:{name}_detail", args=[record.pk])
    except NoReverseMatch:
        return reverse("crm:my_tasks")


def _people_of(record: Contact | Company | Lead | Deal) -> QuerySet[Contact]:
    """Contacts offered as a meeting's attendees: the people the record is about (50 at
    most), as a queryset the form can still filter."""
    if isinstance(record, Contact):
        related = (
            Contact.objects.filter(company_id=record.company_id)
            if record.company_id
            else Contact.objects.filter(pk=record.pk)
        )
    elif isinstance(record, Company | Deal):
        related = record.contacts.all()
    else:
        return Contact.objects.none()
    first = related.order_by("first_name", "last_name").values("pk")[:50]
    return Contact.objects.filter(pk__in=Subquery(first)).order_by("first_name", "last_name")


def _members(request: HttpRequest) -> list[tuple[int, str]]:
    tenant = request.tenant  # type: ignore[attr-defined]
    return [(m.user_id, m.user.get_full_name()) for m in member_list(tenant=tenant)]


def _form(
    request: HttpRequest,
    record: Contact | Company | Lead | Deal,
    data: Any = None,
    *,
    kind: str = Activity.Kind.NOTE,
) -> ActivityForm:
    initial = {"kind": kind, "assignee": request.user.pk}
    return ActivityForm(data, initial=initial, members=_members(request), people=_people_of(record))


def panel_context(
    request: HttpRequest,
    record: Contact | Company | Lead | Deal,
    form: ActivityForm | None = None,
) -> dict[str, Any]:
    """What `crm/activities/_panel.html` shows: the form and the record's timeline."""
    principal = decisions.principal_of(request)
    entries = selectors.timeline(record, principal=principal)
    # The tasks on the timeline the member may mark done, found in one query.
    shown = [e.activity.pk for e in entries if e.activity is not None]
    return {
        "record": record,
        "may_log": authz.may(principal, "activity.create"),
        "editable": decisions.ids_allowed(Activity, shown, principal, "activity", "edit"),
        "record_type": selectors.record_field(record),
        "form": form or _form(request, record),
        "kinds": Activity.Kind.choices,
        "entries": entries,
        "names": selectors.timeline_user_names(entries),
    }


def _record_from(request: HttpRequest, source: Any) -> Contact | Company | Lead | Deal:
    model = RECORD_MODELS.get(source.get("record_type", ""))
    record_id = source.get("record_id", "")
    if model is None or not str(record_id).isdigit():
        raise Http404("No such record.")
    # A record the member may not view is a 404, as a missing one.
    record_type = source.get("record_type", "")
    record = decisions.visible_get(model._default_manager.all(), request, record_type, record_id)
    decisions.record_require(request, "view", record)
    return cast(Contact | Company | Lead | Deal, record)


@login_required
@requires("activity.view")
@require_GET
def activity_form(request: HttpRequest) -> HttpResponse:
    """The panel's form for another kind (a tab of the panel)."""
    record = _record_from(request, request.GET)
    kind = request.GET.get("kind", Activity.Kind.NOTE)
    if kind not in KIND_FORM_FIELDS:
        kind = Activity.Kind.NOTE
    context = panel_context(request, record, _form(request, record, kind=kind))
    response = render(request, "crm/activities/_panel.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@requires("activity.create")
@require_POST
def activity_log(request: HttpRequest) -> HttpResponse:
    """Log an activity from a record's panel; htmx gets the panel back (with the new entry
    on top of the timeline, or the form's errors), a plain form post the record's page."""
    record = _record_from(request, request.POST)
    form = _form(request, record, request.POST)
    is_htmx = bool(request.headers.get("HX-Request"))
    if form.is_valid():
        try:
            data = {selectors.record_field(record): record, **form.service_data()}
            services.activity_create(by=request.user, kind=form.activity_kind, **data)
        except InvalidFields as exc:
            renamed = {_FORM_FIELD_OF.get(k, k): v for k, v in exc.errors.items()}
            add_field_errors(form, InvalidFields(renamed))
        else:
            label = Activity.Kind(form.activity_kind).label
            if not is_htmx:
                messages.success(request, f"{label} logged.")
                return redirect(record_url(record))
            fresh = _form(request, record, kind=form.activity_kind)
            context = panel_context(request, record, fresh)
            context["logged"] = f"{label} logged."
            return render(request, "crm/activities/_panel.html", context)
    if not is_htmx:
        for field, notes in form.errors.items():
            for error in notes:
                messages.error(
                    request, f"{form[field].label if field in form.fields else ''} {error}".strip()
                )
        return redirect(record_url(record))
    # htmx swaps only 2xx answers (base.html); the form comes back with its errors.
    return render(request, "crm/activities/_panel.html", panel_context(request, record, form))


def _task_for_row(request: HttpRequest, pk: int) -> Activity:
    tasks = Activity.objects.filter(selectors.ON_LIVE_RECORD, kind=Activity.Kind.TASK)
    return decisions.visible_get(
        tasks.select_related("contact", "company", "lead", "deal"), request, "activity", pk
    )


@login_required
@requires("activity.edit")
@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a task done (or, with `reopen`, not done) from My tasks, where htmx gets the row,
    or from a record's timeline (`from=timeline`), where htmx gets the record's panel."""
    task = _task_for_row(request, pk)
    decisions.record_require(request, "edit", task)
    if request.POST.get("reopen"):
        services.task_reopen(activity=task, by=request.user)
    else:
        services.task_complete(activity=task, by=request.user)
    record = selectors.activity_record(task)
    if request.POST.get("from") == "timeline" and record is not None:
        if request.headers.get("HX-Request"):
            return render(request, "crm/activities/_panel.html", panel_context(request, record))
        return redirect(record_url(record))
    if not request.headers.get("HX-Request"):
        return redirect("crm:my_tasks")
    return render(request, "crm/activities/_task_row.html", {"task": task, "editable": {task.pk}})


@login_required
@requires("activity.view")
@require_GET
def my_tasks(request: HttpRequest) -> HttpResponse:
    principal = decisions.principal_of(request)
    tasks = selectors.my_tasks(user=request.user, principal=principal)
    shown = [t.pk for t in (*tasks.overdue, *tasks.today, *tasks.upcoming)]
    groups = [
        ("overdue", "Overdue", tasks.overdue),
        ("today", "Today", tasks.today),
        ("upcoming", "Upcoming", tasks.upcoming),
    ]
    return render(
        request,
        "crm/activities/my_tasks.html",
        {
            "tasks": tasks,
            "groups": groups,
            # The tasks the member may mark done (a read-only role sees them, unticked).
            "editable": decisions.ids_allowed(Activity, shown, principal, "activity", "edit"),
        },
    )
