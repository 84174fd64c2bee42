"""Domain errors of the public site's sign-up."""

from problems.exceptions import DomainError


class SignupLinkInvalid(DomainError):
    code = "signup-link-invalid"
    status = 400
    title = "This sign-up link is invalid or has expired."


class SignupLinkUsed(DomainError):
    code = "signup-link-used"
    status = 409
    title = "This sign-up link was used already; its organization exists."


class SignupNeedsSignIn(DomainError):
    """The link's address has an account: the organization is made for that account, by
    the person signed in to it."""

    code = "signup-needs-sign-in"
    status = 403
    title = "Sign in with the account this link was sent to."
