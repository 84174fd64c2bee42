"""Domain errors of sign-in security."""

from problems.exceptions import DomainError


class MfaRequiredOfAdmin(DomainError):
    code = "mfa-not-set-up"
    status = 409
    title = (
        "Set up two-step verification for your own account first: requiring it of everyone "
        "would otherwise lock you out."
    )


class SessionNotFound(DomainError):
    code = "not-found"
    status = 404
    title = "No such session."
