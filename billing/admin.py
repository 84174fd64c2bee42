"""Operator admin on the public host: plans and prices, subscriptions, invoices, history, events.

Plans and prices are seed data operators edit here. A subscription is never edited as a
row: each change (plan, price, seats, status, provider; a custom plan; manual invoicing; an
invoice issued or paid) is a form that calls one service in `billing.services.manual`, which
writes the history row with the operator as its actor; the admin's own log records the same
change. History and provider events are read-only; a failed event can be applied again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from problems.exceptions import DomainError

from .models import (
    FEATURES,
    LIMIT_LABELS,
    LIMITS,
    Interval,
    Invoice,
    Plan,
    Price,
    Provider,
    Subscription,
    SubscriptionChange,
    WebhookEvent,
)
from .services.manual import (
    invoice_issue,
    invoice_mark_paid,
    invoice_void,
    plan_custom_create,
    subscription_manual_invoicing,
    subscription_operator_change,
)
from .services.webhooks import webhook_apply

F = TypeVar("F", bound=type[forms.BaseForm])


def _money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"{amount / 100:,.2f} {currency}"


def _is_number_feature(name: str) -> bool:
    """Features that are a quantity rather than on/off (e.g. `audit_log_retention_days`)."""
    return name.endswith("_days")


def _entitlement_fields() -> dict[str, forms.Field]:
    """One form field per limit and per feature of a plan, so nobody edits raw JSON."""
    fields: dict[str, forms.Field] = {}
    for name in LIMITS:
        fields[f"limit_{name}"] = forms.IntegerField(
            required=False,
            min_value=0,
            label=f"Limit: {LIMIT_LABELS[name]}",
            help_text="Empty means unlimited; 0 allows none.",
        )
    for name in FEATURES:
        label = f"Feature: {name.replace('_', ' ')}"
        if _is_number_feature(name):
            fields[f"feature_{name}"] = forms.IntegerField(
                required=False, min_value=0, label=label, help_text="Empty or 0 is off."
            )
        else:
            fields[f"feature_{name}"] = forms.BooleanField(required=False, label=label)
    return fields


def _with_entitlement_fields(form_class: F) -> F:
    """Declare the limit and feature fields on `form_class` (as if written in its body), so
    the admin's form factory and its fieldsets know them."""
    base: dict[str, forms.Field] = form_class.base_fields  # type: ignore[attr-defined]
    declared: dict[str, forms.Field] = form_class.declared_fields  # type: ignore[attr-defined]
    for name, field in _entitlement_fields().items():
        base[name] = field
        declared[name] = field
    return form_class


def _fill_entitlements(form: forms.BaseForm, plan: Plan) -> None:
    for name in LIMITS:
        form.fields[f"limit_{name}"].initial = plan.limit(name)
    for name in FEATURES:
        form.fields[f"feature_{name}"].initial = plan.features.get(name)


def _limits_and_features(cleaned: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    limits = {name: cleaned.get(f"limit_{name}") for name in LIMITS}
    features = {name: cleaned.get(f"feature_{name}") for name in FEATURES}
    return limits, {name: value for name, value in features.items() if value}


# The service's name of a field where the form asks for it differently.
_FORM_NAMES = {"trial_ends_at": "trial_ends_on"}


def _show_error(form: forms.BaseForm, error: DomainError) -> None:
    """A service's refusal, next to the field it names when the form has that field."""
    name = error.field
    for candidate in (name, f"limit_{name}", f"feature_{name}", _FORM_NAMES.get(name or "")):
        if candidate and candidate in form.fields:
            form.add_error(candidate, error.detail)
            return
    form.add_error(None, error.detail)


# Plans and prices ---------------------------------------------------------------------------


@_with_entitlement_fields
class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = (
            "code",
            "name",
            "description",
            "rank",
            "is_public",
            "contact_sales",
            "trial_days",
            "organization",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            _fill_entitlements(self, self.instance)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("organization") is not None and cleaned.get("is_public"):
            self.add_error("is_public", "A custom plan of one organization is never public.")
        return cleaned

    def save(self, commit: bool = True) -> Plan:
        plan: Plan = super().save(commit=False)
        plan.limits, plan.features = _limits_and_features(self.cleaned_data)
        if commit:
            plan.save()
        return plan


class PriceForm(forms.ModelForm):
    class Meta:
        model = Price
        fields = ("interval", "currency", "unit_amount", "active", "provider_ids")

    def clean_provider_ids(self) -> dict[str, str]:
        ids = self.cleaned_data.get("provider_ids") or {}
        if not isinstance(ids, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in ids.items()
        ):
            raise forms.ValidationError('Provider ids by provider, e.g. {"stripe": "price_123"}.')
        unknown = set(ids) - set(Provider.values)
        if unknown:
            raise forms.ValidationError(f"Unknown providers: {', '.join(sorted(unknown))}.")
        return ids

    def clean_currency(self) -> str:
        currency = str(self.cleaned_data["currency"]).strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise forms.ValidationError("A three-letter ISO 4217 code, e.g. USD.")
        return currency

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        price = self.instance
        moved = {"interval", "currency", "unit_amount"} & set(self.changed_data)
        if price.pk and moved and (price.provider_ids or price.subscriptions.exists()):
            # Providers never change a price's amount; subscribers keep what they agreed to.
            raise forms.ValidationError(
                "This price is in use (at a provider or by subscriptions): add a new price "
                "and make this one inactive instead of changing it."
            )
        return cleaned


class PriceInline(admin.TabularInline):
    model = Price
    form = PriceForm
    extra = 0

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Subscriptions and their history point at prices; retire one by making it inactive.
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    inlines = [PriceInline]
    list_display = (
        "code",
        "name",
        "rank",
        "is_public",
        "contact_sales",
        "trial_days",
        "organization",
    )
    list_filter = ("is_public", "contact_sales")
    search_fields = ("code", "name", "organization__slug")
    list_select_related = ("organization",)

    fieldsets = (
        (None, {"fields": PlanForm.Meta.fields}),
        ("Limits", {"fields": [f"limit_{name}" for name in LIMITS]}),
        ("Features", {"fields": [f"feature_{name}" for name in FEATURES]}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None) -> Any:
        # Trials and their expiry find plans by code; a custom plan stays its organization's.
        return ("code", "organization") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        # Subscriptions' history keeps plans forever; retire one by making it not public.
        return False


# Subscriptions ------------------------------------------------------------------------------


def _plans_for(subscription: Subscription) -> QuerySet[Plan]:
    return Plan.objects.filter(
        Q(organization__isnull=True) | Q(organization_id=subscription.organization_id)
    )


def _last_day(ends: dt.datetime) -> dt.date:
    """The (UTC) day a trial ending at `ends` ends on: midnight ends the day before it."""
    return (ends - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()


class OperatorChangeForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.none())
    price = forms.ModelChoiceField(
        queryset=Price.objects.none(),
        required=False,
        help_text="Empty for no price (free, trial, or a contract not yet priced).",
    )
    quantity = forms.IntegerField(min_value=1, label="Seats billed")
    status = forms.ChoiceField(choices=Subscription.Status.choices)
    provider = forms.ChoiceField(choices=Provider.choices)
    trial_ends_on = forms.DateField(
        required=False, help_text="A trial ends at the end of this day (UTC)."
    )
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, subscription: Subscription, **kwargs: Any) -> None:
        ends = subscription.trial_ends_at
        kwargs.setdefault(
            "initial",
            {
                "plan": subscription.plan_id,
                "price": subscription.price_id,
                "quantity": subscription.quantity,
                "status": subscription.status,
                "provider": subscription.provider,
                "trial_ends_on": _last_day(ends) if ends else None,
            },
        )
        super().__init__(*args, **kwargs)
        if subscription.status != Subscription.Status.PAST_DUE:
            # Only a failed payment makes an organization past due (and starts dunning).
            self.fields["status"].choices = [  # type: ignore[attr-defined]
                choice
                for choice in Subscription.Status.choices
                if choice[0] != Subscription.Status.PAST_DUE
            ]
        self.fields["status"].help_text = "Canceled and Free put the organization on Free."
        plans = _plans_for(subscription)
        self.fields["plan"].queryset = plans  # type: ignore[attr-defined]
        self.fields["price"].queryset = (  # type: ignore[attr-defined]
            Price.objects.filter(plan__in=plans).select_related("plan")
        )

    def apply(self, subscription: Subscription, by: Any) -> str:
        data = self.cleaned_data
        ends_on = data["trial_ends_on"] if "trial_ends_on" in self.changed_data else None
        subscription_operator_change(
            subscription=subscription,
            by=by,
            plan=data["plan"],
            price=data["price"],
            clear_price=data["price"] is None,
            quantity=data["quantity"],
            status=data["status"],
            provider=data["provider"],
            trial_ends_at=(
                dt.datetime.combine(ends_on + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
                if ends_on
                else None
            ),
            note=data["note"],
        )
        return "Changed the subscription: " + ", ".join(self.changed_data)


@_with_entitlement_fields
class CustomPlanForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)
    unit_amount = forms.IntegerField(
        min_value=0, label="Price per seat", help_text="In minor units (cents)."
    )
    currency = forms.CharField(max_length=3, min_length=3)
    interval = forms.ChoiceField(choices=Interval.choices)
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, subscription: Subscription, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": f"{subscription.organization.name} contract",
                "currency": subscription.currency,
                "interval": Interval.YEAR,
            },
        )
        super().__init__(*args, **kwargs)
        _fill_entitlements(self, subscription.plan)

    def apply(self, subscription: Subscription, by: Any) -> str:
        data = self.cleaned_data
        limits, features = _limits_and_features(data)
        changed = plan_custom_create(
            organization=subscription.organization,
            by=by,
            name=data["name"],
            description=data["description"],
            limits=limits,
            features=features,
            unit_amount=data["unit_amount"],
            currency=data["currency"],
            interval=data["interval"],
            note=data["note"],
        )
        self.made = changed.plan
        return f"Gave the organization the custom plan {changed.plan.code}."


class ManualInvoicingForm(forms.Form):
    contract_seats = forms.IntegerField(min_value=1)
    payment_terms_days = forms.IntegerField(
        min_value=0, max_value=365, help_text="Days after issue an invoice is due."
    )
    price = forms.ModelChoiceField(
        queryset=Price.objects.none(),
        required=False,
        help_text="The contract's price per seat; empty keeps the current one.",
    )
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, subscription: Subscription, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "contract_seats": subscription.contract_seats or subscription.quantity,
                "payment_terms_days": subscription.payment_terms_days,
                "price": subscription.price_id,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["price"].queryset = (  # type: ignore[attr-defined]
            Price.objects.filter(plan__in=_plans_for(subscription)).select_related("plan")
        )

    def apply(self, subscription: Subscription, by: Any) -> str:
        data = self.cleaned_data
        price = data["price"]
        subscription_manual_invoicing(
            subscription=subscription,
            by=by,
            contract_seats=data["contract_seats"],
            payment_terms_days=data["payment_terms_days"],
            plan=price.plan if price is not None else None,
            price=price,
            note=data["note"],
        )
        return (
            f"Put on manual invoicing: {data['contract_seats']} seats, "
            f"{data['payment_terms_days']} days."
        )


class InvoiceIssueForm(forms.Form):
    number = forms.CharField(
        max_length=60, required=False, help_text="Empty for the organization's next number."
    )
    period_start = forms.DateField(required=False)
    period_end = forms.DateField(required=False)
    subtotal = forms.IntegerField(min_value=0, help_text="In minor units (cents).")
    tax = forms.IntegerField(min_value=0, initial=0, help_text="In minor units (cents).")
    currency = forms.CharField(max_length=3, min_length=3)

    def __init__(self, *args: Any, subscription: Subscription, **kwargs: Any) -> None:
        price = subscription.price
        kwargs.setdefault(
            "initial",
            {
                "currency": subscription.currency,
                "tax": 0,
                "subtotal": price.unit_amount * subscription.quantity if price else None,
            },
        )
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("period_start"), cleaned.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The period ends after it starts.")
        return cleaned

    def apply(self, subscription: Subscription, by: Any) -> str:
        data = self.cleaned_data

        def moment(day: dt.date | None) -> dt.datetime | None:
            # Contract periods run from midnight UTC, as the invoice's dates print.
            return None if day is None else dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)

        invoice = invoice_issue(
            subscription=subscription,
            by=by,
            number=data["number"],
            period_start=moment(data["period_start"]),
            period_end=moment(data["period_end"]),
            subtotal=data["subtotal"],
            tax=data["tax"],
            currency=data["currency"],
        )
        self.made = invoice
        return f"Issued invoice {invoice.number}, due {invoice.due_at:%Y-%m-%d}."


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "organization",
        "plan",
        "provider",
        "status",
        "quantity",
        "dunning",
        "current_period_end",
    )
    list_filter = ("provider", "status", "dunning", "plan")
    search_fields = ("organization__slug", "organization__name", "provider_subscription_id")
    list_select_related = ("organization", "plan")
    change_form_template = "admin/billing/subscription/change_form.html"

    # Each operator form: its url name, title, form, and the permission it needs.
    OPERATIONS: dict[str, tuple[str, type[forms.Form], str]] = {
        "operator-change": (
            "Change plan, seats, status or provider",
            OperatorChangeForm,
            "change",
        ),
        "custom-plan": ("Give a custom plan", CustomPlanForm, "change"),
        "manual-invoicing": ("Put on manual invoicing", ManualInvoicingForm, "change"),
        "issue-invoice": ("Issue an invoice", InvoiceIssueForm, "add_invoice"),
    }

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None) -> Any:
        # Never edited as a row: the forms above go through the services and the history.
        return [field.name for field in Subscription._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every organization gets its subscription when it is provisioned

    def has_delete_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        subscription = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "operations": [
                (reverse(f"admin:billing_subscription_{slug}", args=[object_id]), title)
                for slug, (title, _form, permission) in self.OPERATIONS.items()
                if subscription is not None and self._allowed(request, permission, subscription)
            ],
        }
        if subscription is not None:
            context["subtitle"] = subscription.organization.name
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(self._operation_view(slug)),
                name=f"billing_subscription_{slug}",
            )
            for slug in self.OPERATIONS
        ]
        return own + super().get_urls()

    def _allowed(self, request: HttpRequest, permission: str, obj: Subscription) -> bool:
        if permission == "change":
            return self.has_change_permission(request, obj)
        return request.user.has_perm(f"billing.{permission}")

    def _operation_view(self, slug: str) -> Callable[..., HttpResponse]:
        title, form_class, permission = self.OPERATIONS[slug]

        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            subscription = self.get_object(request, object_id)
            if subscription is None:
                raise Http404("No such subscription.")
            if not self._allowed(request, permission, subscription):
                raise PermissionDenied
            data = request.POST if request.method == "POST" else None
            form = form_class(data, subscription=subscription)  # type: ignore[call-arg]
            if data is not None and form.is_valid():
                try:
                    message = form.apply(subscription, request.user)  # type: ignore[attr-defined]
                except DomainError as error:
                    _show_error(form, error)
                else:
                    subscription.refresh_from_db()
                    self.log_change(request, subscription, message)
                    made = getattr(form, "made", None)
                    if made is not None:  # a custom plan or an invoice has a history of its own
                        self.log_addition(request, made, [{"added": {}}])
                    self.message_user(request, message, messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:billing_subscription_change", args=[subscription.pk])
                    )
            context = {
                **self.admin_site.each_context(request),
                "title": f"{title}: {subscription.organization.name}",
                "opts": self.opts,
                "original": subscription,
                "form": form,
                "subscription": subscription,
            }
            return TemplateResponse(
                request, "admin/billing/subscription/operator_form.html", context
            )

        return view


# Invoices -----------------------------------------------------------------------------------


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "organization",
        "provider",
        "status",
        "amount",
        "issued_at",
        "due_at",
        "paid_at",
        "issued_by",
    )
    list_filter = ("provider", "status")
    search_fields = ("number", "provider_invoice_id", "organization__slug")
    list_select_related = ("organization", "issued_by")
    actions = ["mark_paid", "void"]

    def get_readonly_fields(self, request: HttpRequest, obj: Invoice | None = None) -> Any:
        # The provider's invoices are mirrored; manual ones change only through the actions.
        return [field.name for field in Invoice._meta.fields]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Nothing on the page is edited; the list's actions pay or void an invoice.
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="Total")
    def amount(self, invoice: Invoice) -> str:
        return _money(invoice.total, invoice.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # issued from the organization's subscription, with its terms

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False

    @admin.action(description="Void selected manual invoices", permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        voided = 0
        for invoice in queryset:
            try:
                invoice_void(invoice=invoice, by=request.user)
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.detail}", messages.ERROR)
                continue
            self.log_change(request, invoice, "Voided.")
            voided += 1
        if voided:
            self.message_user(request, f"Voided {voided} invoice(s).", messages.SUCCESS)

    @admin.action(description="Mark selected manual invoices paid", permissions=["change"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        paid = 0
        for invoice in queryset:
            try:
                invoice_mark_paid(invoice=invoice, by=request.user)
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.detail}", messages.ERROR)
                continue
            self.log_change(request, invoice, "Marked paid.")
            paid += 1
        if paid:
            self.message_user(request, f"Marked {paid} invoice(s) paid.", messages.SUCCESS)


# History and events (read-only) -------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SubscriptionChange)
class SubscriptionChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "effective_at",
        "organization",
        "kind",
        "plan",
        "status",
        "quantity",
        "monthly_revenue",
        "actor",
        "note",
    )
    list_filter = ("kind", "status")
    search_fields = ("organization__slug", "actor__email", "note")
    list_select_related = ("organization", "plan", "actor")
    date_hierarchy = "effective_at"

    @admin.display(description="MRR")
    def monthly_revenue(self, change: SubscriptionChange) -> str:
        return _money(change.mrr, change.currency)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "state",
        "attempts",
        "applied_at",
    )
    list_filter = ("provider", "state", "event_type")
    search_fields = ("event_id", "event_type")
    actions = ["retry"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_webhookevent")

    @admin.action(description="Apply selected failed events again", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        # At once, not queued: the operator sees whether it took. Applied events are left
        # alone, so an effect is never made twice.
        failed = list(queryset.filter(state=WebhookEvent.State.FAILED).values_list("pk", flat=True))
        skipped = queryset.count() - len(failed)
        for pk in failed:
            event = webhook_apply(event_pk=pk)
            if event is None:
                continue  # another worker has it, or it was applied meanwhile
            outcome = event.get_state_display().lower()
            self.log_change(request, event, f"Applied again: {outcome}.")
            level = messages.ERROR if event.state == WebhookEvent.State.FAILED else messages.SUCCESS
            detail = f" ({event.error})" if event.error else ""
            self.message_user(request, f"{event}: {outcome}{detail}.", level)
        if skipped:
            self.message_user(
                request, f"Left {skipped} event(s) that had not failed alone.", messages.WARNING
            )
