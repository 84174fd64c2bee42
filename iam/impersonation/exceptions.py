"""Why an operator may not act as a member (or may no longer); each is a clear 4xx."""

from problems.exceptions import DomainError


class ImpersonationNotPermitted(DomainError):
    code = "impersonation-not-permitted"
    status = 403
    title = "Your operator account may not act as members of organizations."


class OperatorAccessRefused(DomainError):
    code = "operator-access-refused"
    status = 403
    title = "This organization's owners have switched off operator access."


class ImpersonationInvalid(DomainError):
    code = "impersonation-invalid"
    status = 400
    title = "This operator sign-in link is invalid, was used already or has expired."
