"""Domain errors of the access settings (roles, teams, policies, shares)."""

from problems.exceptions import DomainError


class NameTaken(DomainError):
    code = "name-taken"
    status = 409
    title = "Something of this kind with this name exists already."


class RecordNotFound(DomainError):
    code = "not-found"
    status = 404
    title = "Not found."
