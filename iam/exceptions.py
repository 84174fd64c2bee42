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


class AlreadyMember(DomainError):
    code = "already-a-member"
    status = 409
    title = "This person is already a member of the organization."


class InvitationInvalid(DomainError):
    code = "invitation-invalid"
    status = 400
    title = "This invitation link is invalid, was used already, was withdrawn or has expired."


class InvitationForSomeoneElse(DomainError):
    code = "invitation-for-someone-else"
    status = 403
    title = "This invitation was sent to another e-mail address."


class NotAllowed(DomainError):
    code = "not-allowed"
    status = 403
    title = "Your role in this organization does not allow this."


class LastOwner(DomainError):
    code = "last-owner"
    status = 409
    title = "An organization needs at least one owner; make someone else owner first."


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency-key-invalid"
    status = 400
    title = "The Idempotency-Key header is not valid."


class IdempotencyKeyInUse(DomainError):
    code = "idempotency-key-in-use"
    status = 409
    title = "A request with this Idempotency-Key is still being processed."


class IdempotencyKeyReused(DomainError):
    code = "idempotency-key-reused"
    status = 422
    title = "This Idempotency-Key was used with another request."


class AccessDenied(DomainError):
    """The decision point said no; `detail` says why, `policies` names the organization's
    policies that decided, if any."""

    code = "access-denied"
    status = 403
    title = "You don't have access to do this."


class TokenInUse(DomainError):
    code = "token-in-use"
    status = 409
    title = "A token can't revoke itself through the API."


class ManagedByIdentityProvider(DomainError):
    """A change the organization's identity provider owns (SCIM): made there, not here."""

    code = "managed-by-identity-provider"
    status = 409
    title = "This member is managed by your identity provider; make the change there."
