"""The base of every domain exception: a stable code, an HTTP status and a human title."""

from typing import Any


class DomainError(Exception):
    """An expected failure of a business rule, rendered as problem+json by the API."""

    code: str = "error"
    status: int = 400
    title: str = "The request could not be completed."
    # The page that says it when it escapes an HTML view (problems.middleware), given the
    # title, the detail and the extra members.
    page_template: str = "problem.html"

    def __init__(self, detail: str | None = None, *, field: str | None = None, **extra: Any):
        self.detail = detail or self.title
        self.field = field
        self.extra = extra
        super().__init__(self.detail)

    def field_errors(self) -> dict[str, list[str]]:
        """Errors keyed by form or API field, for forms and the `errors` member."""
        return {self.field: [self.detail]} if self.field else {}


class InvalidFields(DomainError):
    """Several fields failed validation at once; `errors` maps each field to its messages."""

    code = "validation-error"
    title = "Some fields need attention."

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("Some fields are invalid; see errors.")
        self.errors = errors

    def field_errors(self) -> dict[str, list[str]]:
        return self.errors


class PreconditionFailed(DomainError):
    """An If-Match header named a version of the record that is no longer the current one."""

    code = "precondition-failed"
    status = 412
    title = "The record has changed since you read it."
