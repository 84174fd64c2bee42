"""Settings page of lead scoring, for those with the CRM set-up right: the organization's
rules (add, edit, delete), its trained model, and a live preview of how the current leads
would score under the rule being edited."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.entitlements import feature_enabled, upgrade_url
from crm.models import Lead, ScoringRule
from crm.selectors.scoring import (
    MIN_OUTCOMES,
    NUMBER_CONDITIONS,
    STARTING_POINTS,
    VALUE_CONDITIONS,
    rule_label,
    scoring_model_current,
    scoring_preview,
    scoring_rule_list,
)
from crm.services.scoring import (
    MODEL_PLAN_FEATURE,
    scoring_rule_clean,
    scoring_rule_create,
    scoring_rule_delete,
    scoring_rule_update,
)
from iam.authz.guards import requires
from problems.exceptions import InvalidFields
from problems.forms import add_field_errors


class ScoringRuleForm(forms.Form):
    condition = forms.ChoiceField(choices=ScoringRule.Condition.choices, label="When")
    value = forms.CharField(
        required=False,
        max_length=100,
        label="Value",
        help_text=(
            "For title, source, status and tag: a word of the title, or one of "
            f"{', '.join(Lead.Source.values)} (source), {', '.join(Lead.Status.values)} (status)."
        ),
    )
    number = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="N",
        help_text="For days, calls and meetings.",
    )
    points = forms.IntegerField(min_value=-100, max_value=100, initial=10, label="Points")

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "condition": data["condition"],
            "value": data.get("value") or "",
            "number": data.get("number"),
            "points": data["points"],
        }


def _page(
    request: HttpRequest,
    *,
    form: ScoringRuleForm | None = None,
    editing: ScoringRule | None = None,
    status: int = 200,
) -> HttpResponse:
    rules = list(scoring_rule_list())
    for rule in rules:
        rule.label = rule_label(rule)  # type: ignore[attr-defined]
    template = "crm/scoring/rule_form.html" if editing is not None else "crm/scoring/settings.html"
    return render(
        request,
        template,
        {
            "rules": rules,
            "form": form or ScoringRuleForm(),
            "editing": editing,
            "model": scoring_model_current(),
            "model_in_plan": feature_enabled(
                tenant=request.tenant,  # type: ignore[attr-defined]
                feature=MODEL_PLAN_FEATURE,
            ),
            "upgrade_url": upgrade_url(request.tenant),  # type: ignore[attr-defined]
            "min_outcomes": MIN_OUTCOMES,
            "starting_points": STARTING_POINTS,
            "preview": scoring_preview(rules=rules),
            "value_conditions": sorted(VALUE_CONDITIONS),
            "number_conditions": sorted(NUMBER_CONDITIONS),
            "sources": Lead.Source.choices,
            "statuses": Lead.Status.choices,
        },
        status=status,
    )


@login_required
@requires("admin.custom_fields")
@require_GET
def scoring_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@requires("admin.custom_fields")
@require_POST
def scoring_rule_add(request: HttpRequest) -> HttpResponse:
    form = ScoringRuleForm(request.POST)
    if form.is_valid():
        try:
            rule = scoring_rule_create(by=request.user, **form.changes())
        except InvalidFields as exc:
            add_field_errors(form, exc)
        else:
            messages.success(
                request, f"Rule “{rule_label(rule)}: {rule.points:+d}” added; leads are rescored."
            )
            return redirect("crm:scoring_settings")
    return _page(request, form=form, status=400)


@login_required
@requires("admin.custom_fields")
@require_http_methods(["GET", "POST"])
def scoring_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(ScoringRule, pk=pk)
    if request.method == "GET":
        initial = {
            "condition": rule.condition,
            "value": rule.value,
            "number": rule.number,
            "points": rule.points,
        }
        return _page(request, form=ScoringRuleForm(initial=initial), editing=rule)
    form = ScoringRuleForm(request.POST)
    if form.is_valid():
        try:
            scoring_rule_update(rule=rule, by=request.user, **form.changes())
        except InvalidFields as exc:
            add_field_errors(form, exc)
        else:
            messages.success(request, "Rule saved; leads are rescored.")
            return redirect("crm:scoring_settings")
    rule.refresh_from_db()
    return _page(request, form=form, editing=rule, status=400)


@login_required
@requires("admin.custom_fields")
@require_POST
def scoring_rule_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(ScoringRule, pk=pk)
    label = rule_label(rule)
    scoring_rule_delete(rule=rule, by=request.user)
    messages.success(request, f"Rule “{label}” deleted; leads are rescored.")
    return redirect("crm:scoring_settings")


@login_required
@requires("admin.custom_fields")
@require_GET
def scoring_preview_view(request: HttpRequest) -> HttpResponse:
    """The preview of the rules with the one being edited (or added) as the form has it now;
    an htmx partial. Nothing is saved."""
    rules = list(scoring_rule_list())
    form = ScoringRuleForm(request.GET)
    problem = ""
    editing_pk = request.GET.get("rule", "")
    if form.is_valid():
        candidate = ScoringRule(pk=None)
        try:
            scoring_rule_clean(candidate, form.changes())
        except InvalidFields as exc:
            problem = " ".join(m for ms in exc.field_errors().values() for m in ms)
        else:
            if editing_pk.isdigit() and any(r.pk == int(editing_pk) for r in rules):
                rules = [candidate if r.pk == int(editing_pk) else r for r in rules]
            else:
                rules.append(candidate)
    else:
        problem = "Complete the rule to see how it would score your leads."
    return render(
        request,
        "crm/scoring/_preview.html",
        {"preview": scoring_preview(rules=rules) if not problem else None, "problem": problem},
    )
