"""Domain errors of single sign-on; each renders as a clear 4xx page or problem+json."""

from problems.exceptions import DomainError


class DomainInvalid(DomainError):
    code = "domain-invalid"
    title = "Enter a domain name such as example.com."


class DomainTaken(DomainError):
    code = "domain-taken"
    status = 409
    title = "Another organization has verified this domain."


class DomainNotVerified(DomainError):
    code = "domain-not-verified"
    status = 409
    title = "The verification record was not found in DNS yet."


class ConnectionInvalid(DomainError):
    code = "sso-connection-invalid"
    title = "The identity provider's settings could not be used."


class ConnectionNotTested(DomainError):
    code = "sso-connection-not-tested"
    status = 409
    title = "Test the connection successfully before switching it on."


class SsoFailed(DomainError):
    """A sign-in response we refuse: forged, replayed, expired, for someone else, or from
    another organization. Nothing is changed and nobody is signed in."""

    code = "sso-failed"
    status = 400
    title = "Single sign-on failed."


class SsoNotAllowed(DomainError):
    """The identity provider vouched for someone this organization does not let in."""

    code = "sso-not-allowed"
    status = 403
    title = "This account can't sign in here through single sign-on."


class PasswordSignInRefused(DomainError):
    code = "sso-required"
    status = 403
    title = "This organization signs its members in through single sign-on."
    page_template = "iam_sso/password_refused.html"
