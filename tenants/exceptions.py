"""Domain errors of tenancy and provisioning."""

from problems.exceptions import DomainError


class SlugInvalid(DomainError):
    code = "slug-invalid"
    title = "This subdomain is not valid."


class SlugReserved(DomainError):
    code = "slug-reserved"
    title = "This subdomain is reserved."


class SlugTaken(DomainError):
    code = "slug-taken"
    status = 409
    title = "This subdomain is already taken."


class TenantNotFound(DomainError):
    code = "tenant-not-found"
    status = 404
    title = "No such organization."


class ProvisioningFailed(DomainError):
    code = "provisioning-failed"
    status = 500
    title = "The organization could not be created."


class TaskTenantMissing(DomainError):
    code = "task-tenant-missing"
    status = 500
    title = "A background task ran without its organization."
