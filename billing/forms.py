"""Forms of the Billing settings: choosing a plan, and entering a coupon."""

from django import forms

from .models import Interval


class PlanForm(forms.Form):
    """A plan and interval (and, before the first payment, a currency) to buy or move to."""

    plan = forms.ChoiceField(label="Plan")
    interval = forms.ChoiceField(label="Billed", choices=Interval.choices, initial=Interval.MONTH)
    currency = forms.ChoiceField(label="Currency", required=False)

    def __init__(
        self,
        *args: object,
        plans: list[tuple[str, str]],
        currencies: list[str],
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        plan, currency = self.fields["plan"], self.fields["currency"]
        if isinstance(plan, forms.ChoiceField) and isinstance(currency, forms.ChoiceField):
            plan.choices = plans
            currency.choices = [(c, c) for c in currencies]


class CouponForm(forms.Form):
    coupon = forms.CharField(label="Coupon code", max_length=80, strip=True)
