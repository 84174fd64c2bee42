from problems.exceptions import DomainError


class CompanyNotFound(DomainError):
    code = "company-not-found"
    status = 400
    title = "The company does not exist."


class CustomFieldKeyTaken(DomainError):
    code = "custom-field-key-taken"
    status = 409
    title = "A custom field with this key already exists."


class CustomFieldLimitReached(DomainError):
    code = "custom-field-limit-reached"
    status = 409
    title = "There are as many custom fields as an organization can have."


class ContactEmailTaken(DomainError):
    code = "contact-email-taken"
    status = 409
    title = "Another contact already has this e-mail address."


class ImportKeyReused(DomainError):
    code = "idempotency-key-reused"
    status = 409
    title = "This idempotency key belongs to another import."
