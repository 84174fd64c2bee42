"""Billing's domain errors: limits of the plan, and failures at a payment provider."""

from problems.exceptions import DomainError


class PlanLimitReached(DomainError):
    """Adding more would pass a limit of the organization's plan; nothing was written."""

    code = "plan-limit"
    status = 402
    title = "Your plan's limit is reached."
    page_template = "billing/limit_reached.html"


class FeatureNotInPlan(DomainError):
    """The organization's plan does not include the feature asked for."""

    code = "plan-limit"
    status = 402
    title = "Your plan does not include this."
    page_template = "billing/limit_reached.html"


class ReadOnlyOrganization(DomainError):
    """A payment is overdue past the grace period: the organization may read but not write."""

    code = "payment-required"
    status = 402
    title = "This organization is read-only until its overdue payment is made."


class ProviderError(DomainError):
    """The payment provider refused or could not be reached; nothing was changed here."""

    code = "billing-provider-error"
    status = 502
    title = "The payment provider could not complete the request."


class InvalidSignature(DomainError):
    """A webhook's signature is missing, wrong or too old."""

    code = "invalid-signature"
    status = 400
    title = "The webhook signature is not valid."


class BillingRuleBroken(DomainError):
    """A change the subscription's state does not allow (e.g. resuming one not cancelled)."""

    code = "billing-conflict"
    status = 409
    title = "The subscription cannot change that way now."


class PlanNotOffered(DomainError):
    """The plan, interval or currency asked for has no self-serve price for this organization."""

    code = "plan-not-offered"
    status = 422
    title = "That plan cannot be bought here."
