"""Reads of saved views: a member's own and those shared with the organization, and the
columns a member chose for each list."""

from django.db.models import Q, QuerySet

from crm.models import SavedView

# The columns a member may show in each list, in display order, beside the name (always
# shown); all of them unless a member chose otherwise.
LIST_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    SavedView.Records.CONTACTS: (
        ("email", "E-mail"),
        ("phone", "Phone"),
        ("company", "Company"),
        ("owner", "Owner"),
        ("tags", "Tags"),
        ("created", "Added"),
    ),
    SavedView.Records.COMPANIES: (
        ("domain", "Domain"),
        ("phone", "Phone"),
        ("owner", "Owner"),
        ("tags", "Tags"),
        ("created", "Added"),
    ),
    SavedView.Records.LEADS: (
        ("company", "Company"),
        ("status", "Status"),
        ("source", "Source"),
        ("score", "Score"),
        ("owner", "Owner"),
        ("tags", "Tags"),
        ("created", "Added"),
    ),
    SavedView.Records.DEALS: (
        ("company", "Company"),
        ("stage", "Stage"),
        ("amount", "Amount"),
        ("close", "Expected close"),
        ("owner", "Owner"),
        ("tags", "Tags"),
        ("created", "Added"),
    ),
}
# The parameters of each list page a view keeps (its filters and sort).
LIST_PARAMETERS: dict[str, frozenset[str]] = {
    SavedView.Records.CONTACTS: frozenset({"q", "tag", "owner", "mine", "ordering"}),
    SavedView.Records.COMPANIES: frozenset({"q", "tag", "owner", "mine", "ordering"}),
    SavedView.Records.LEADS: frozenset(
        {"q", "status", "source", "owner", "mine", "tag", "ordering"}
    ),
    SavedView.Records.DEALS: frozenset(
        {
            "q",
            "pipeline",
            "stage",
            "outcome",
            "owner",
            "mine",
            "tag",
            "close_from",
            "close_to",
            "closed_from",
            "closed_to",
            "ordering",
        }
    ),
}


def saved_view_list(*, user_id: int, records: str | None = None) -> QuerySet[SavedView]:
    """The views a member may pick: their own and those shared with the organization, by
    name (a list's remembered columns aside)."""
    views = SavedView.objects.filter(Q(user_id=user_id) | Q(is_shared=True)).exclude(name="")
    if records:
        views = views.filter(records=records)
    return views


def saved_view_get(*, user_id: int, pk: int) -> SavedView | None:
    """One view the member may pick, or None (missing, or another member's unshared one)."""
    return saved_view_list(user_id=user_id).filter(pk=pk).first()


def list_columns_of(*, user_id: int, records: str) -> list[str]:
    """The columns the member last chose for the list; every column until they choose."""
    known = [key for key, _ in LIST_COLUMNS.get(records, ())]
    chosen = (
        SavedView.objects.filter(user_id=user_id, records=records, name="")
        .values_list("columns", flat=True)
        .first()
    )
    if chosen is None:
        return known
    return [key for key in known if key in chosen]
