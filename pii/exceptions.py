"""Domain errors of PII protection."""

from problems.exceptions import DomainError


class KeyServiceUnavailable(DomainError):
    code = "key-service-unavailable"
    status = 503
    title = "Encrypted contact details are unavailable right now."


class CiphertextInvalid(DomainError):
    code = "ciphertext-invalid"
    status = 500
    title = "A stored value could not be decrypted."


class TenantRequired(DomainError):
    code = "tenant-required"
    status = 500
    title = "Encrypted data was used outside an organization."
