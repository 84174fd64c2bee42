"""Reads for imports: the mapping remembered for a file's headings, and the latest imports."""

from collections.abc import Sequence

from django.db.models import QuerySet

from crm.imports import headings_digest
from crm.models import ContactImport, ImportMapping


def import_mapping_get(*, entity: str, headings: Sequence[str]) -> ImportMapping | None:
    """The mapping last chosen in this organization for a file of `entity` records with
    these headings (as a set), if any."""
    return ImportMapping.objects.filter(
        entity=entity, headings_digest=headings_digest(headings)
    ).first()


def import_list(*, entity: str) -> QuerySet[ContactImport]:
    """Imports of `entity` records, the latest first (dry runs are not kept)."""
    return ContactImport.objects.filter(entity=entity).order_by("-created_at", "-id")
