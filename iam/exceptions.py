"""Domain errors of identity and access."""

from problems.exceptions import DomainError


class EmailTaken(DomainError):
    code = "email-taken"
    status = 409
    title = "An account with this e-mail address already exists."


class NotAMember(DomainError):
    code = "not-a-member"
    status = 403
    title = "You are not a member of this organization."


class HandoffInvalid(DomainError):
    code = "handoff-invalid"
    status = 400
    title = "This sign-in link is invalid or has expired."


class EmailInvalid(DomainError):
    code = "email-invalid"
    title = "Enter a valid e-mail address."
