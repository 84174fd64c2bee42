from typing import TYPE_CHECKING

from problems.exceptions import DomainError, InvalidFields

if TYPE_CHECKING:
    from .models import ContactImport


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


class LeadAlreadyConverted(DomainError):
    code = "lead-already-converted"
    status = 409
    title = "This lead was already converted."


class LeadDisqualified(DomainError):
    code = "lead-disqualified"
    status = 409
    title = "This lead is disqualified; confirm to convert it anyway."


class ImportKeyReused(DomainError):
    code = "idempotency-key-reused"
    status = 409
    title = "This idempotency key belongs to another import."


class ContactImportInvalid(InvalidFields):
    """Rows of an import file need fixing (`errors`, by `rows.<n>.<field>`), so nothing was
    imported. `summary`, an unsaved ContactImport, says what the file's other rows would do,
    and `bad_rows` how many rows need fixing, so a person sees the whole picture at once."""

    def __init__(
        self, errors: dict[str, list[str]], *, summary: "ContactImport", bad_rows: int
    ) -> None:
        super().__init__(errors)
        self.summary = summary
        self.bad_rows = bad_rows


class StageInAnotherPipeline(DomainError):
    code = "stage-in-another-pipeline"
    status = 409
    title = "The stage belongs to another pipeline than the deal's."


class StageHasDeals(DomainError):
    code = "stage-has-deals"
    status = 409
    title = "Deals are on this stage: move them to another stage of the pipeline first."


class PipelineIsDefault(DomainError):
    code = "pipeline-is-default"
    status = 409
    title = "The default pipeline can't be archived."


class TagNameTaken(DomainError):
    code = "tag-name-taken"
    status = 409
    title = "Another tag already has this name."


class ProductInUse(DomainError):
    code = "product-in-use"
    status = 409
    title = "This product is on deals; withdraw it from sale instead."


class SkuTaken(DomainError):
    code = "product-sku-taken"
    status = 409
    title = "Another product already has this SKU."


class RecordNotInTrash(DomainError):
    code = "record-not-in-trash"
    status = 409
    title = "This record is not in the trash."


class MergeInvalid(DomainError):
    code = "merge-invalid"
    status = 400
    title = "These records can't be merged."
