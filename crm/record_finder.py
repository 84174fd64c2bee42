"""crm's answer to identity and access's record finder (`iam.record_finder`): the records
of one type whose names match what is typed, among those the person asking may view, found
by the search engine of the search box (names with typos and prefixes, e-mail addresses and
phone numbers through their keyed digests, never their text)."""

from django.db.models import Q

from iam import authz, record_finder
from iam.record_finder import RecordOption

from .models import Activity
from .selectors.search import RECORD_TYPES, clean_query, search

# The search engine's name of each record type it covers ("deal" -> "deals").
_SEARCHED = {record_type: searched for searched, record_type in RECORD_TYPES.items()}


def record_options(
    *, principal: authz.Principal, record_type: str, text: str, limit: int
) -> list[RecordOption]:
    """The best `limit` records of `record_type` for `text` that `principal` may view.
    Activities, which the search box doesn't cover, are found by words of their subject."""
    text = clean_query(text)
    if not text:
        return []
    if record_type in _SEARCHED:
        searched = _SEARCHED[record_type]
        found = search(text=text, types=[searched], limit=limit, principal=principal)
        return [RecordOption(hit.id, hit.title, hit.subtitle) for hit in found[searched]]
    if record_type == "activity":
        words = Q()
        for word in text.split()[:8]:
            words &= Q(subject__icontains=word)
        activities = authz.visible(Activity.objects.filter(words), principal, "activity")
        return [
            RecordOption(a.pk, a.subject or a.get_kind_display(), a.get_kind_display())
            for a in activities.order_by("-pk")[:limit]
        ]
    return []


record_finder.install(record_options)
