"""What the billing API shows of an organization's subscription and invoices, and the changes
it accepts."""

from typing import Any

from rest_framework import serializers

from billing.models import Interval, Invoice, Subscription
from problems.serializers import StrictCharField


class PlanRefSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class UsageSerializer(serializers.Serializer):
    """One limit of the plan beside what the organization uses (`limit` null: unlimited)."""

    name = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    used = serializers.IntegerField(read_only=True)
    limit = serializers.IntegerField(read_only=True, allow_null=True)


class SubscriptionSerializer(serializers.Serializer):
    """The organization's plan, its state, the seats billed and what the plan allows."""

    plan = PlanRefSerializer(read_only=True)
    status = serializers.ChoiceField(choices=Subscription.Status.choices, read_only=True)
    provider = serializers.CharField(read_only=True)
    interval = serializers.ChoiceField(choices=Interval.choices, read_only=True, allow_null=True)
    currency = serializers.CharField(read_only=True)
    unit_amount = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Per seat, in minor units (cents)."
    )
    seats = serializers.IntegerField(read_only=True, help_text="Seats billed.")
    members = serializers.IntegerField(read_only=True)
    trial_ends_at = serializers.DateTimeField(read_only=True, allow_null=True)
    current_period_end = serializers.DateTimeField(read_only=True, allow_null=True)
    cancel_at_period_end = serializers.BooleanField(read_only=True)
    coupon = serializers.CharField(read_only=True)
    self_serve = serializers.BooleanField(
        read_only=True, help_text="False for an organization invoiced by contract."
    )
    usage = UsageSerializer(many=True, read_only=True)
    limits = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        read_only=True,
        help_text="Every limit of the plan; null is unlimited.",
    )
    features = serializers.DictField(read_only=True)


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice as the provider issued it; amounts in minor units of `currency`."""

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "currency",
            "subtotal",
            "tax",
            "total",
            "amount_paid",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "paid_at",
            "hosted_url",
            "pdf_url",
        ]
        read_only_fields = fields


class PlanChoiceSerializer(serializers.Serializer):
    """A plan (its code, as GET subscription and the pricing page name it) and an interval."""

    plan = StrictCharField(max_length=60)
    interval = serializers.ChoiceField(choices=Interval.choices)


class CheckoutSerializer(PlanChoiceSerializer):
    """A first paid plan; the currency defaults to the organization's."""

    currency = StrictCharField(min_length=3, max_length=3, required=False)


class CouponSerializer(serializers.Serializer):
    coupon = StrictCharField(max_length=80)


class RedirectSerializer(serializers.Serializer):
    """Where to send the owner's browser next (the provider's page)."""

    url = serializers.URLField(read_only=True)

    def to_representation(self, instance: Any) -> Any:
        return {"url": instance}
