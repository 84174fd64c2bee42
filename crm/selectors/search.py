"""Search across contacts, companies, leads and deals: one engine behind the search box on
every page, `GET /api/v1/search/`, and the lists' own search boxes.

A record is found by the words of its name (a contact's first and last name, a company's name
and domain, a lead's name and company, a deal's name), each typed word matching one of them:
in full, as a prefix ("zo" finds Zoë), or with one letter wrong, missing or added ("Mulller"
finds Müller); accents and case never matter ("lodz" finds Łódź). Contacts and leads are also
found by part of their e-mail address ("zoe.muller", "example.com") through the keyed digests
of the address's words (`email_tokens`), never its text, and by an exact phone number through
its blind index.

Matching runs on indexes of expressions over two SQL functions of ours, `public.mycrm_fold`
and `public.mycrm_typo_keys` (tenants migration 0006; crm migration 0009 indexes them): the
words with PostgreSQL's full-text search, the typo keys as arrays. The SQL here names each
record's document exactly as those indexes do, or PostgreSQL would not use them.

Ranking: the whole name typed exactly, then every word whole, then as prefixes, with a match
on the e-mail address or phone number worth as much as whole words; within a rank, the name
closest in length to what was typed first.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from crm.models import Company, Contact, Deal, Lead
from iam import authz
from pii.fields import blind_index_for, email_tokens, normalize_email, token_digests_for

log = structlog.get_logger(__name__)

TYPES = ("contacts", "companies", "leads", "deals")
MAX_QUERY_LENGTH = 200
MAX_WORDS = 8
MAX_LIMIT = 50
# Records of a type ranked for one search, at most: those matching best, and as many more.
CANDIDATES = 100
# Words shorter than this must be typed right (`mycrm_typo_keys` has no keys for them).
_TYPO_LETTERS = 4
# Phone numbers are looked up exactly, and only for text with this many digits or more.
_PHONE_DIGITS = 5
# What the typed text is split into words at: whitespace (and, for the typo keys and the
# e-mail address's words, ASCII punctuation too, as `mycrm_typo_keys` splits names).
_WHITESPACE = re.compile(r"\s+")
_PUNCTUATION = re.compile(r"[\s!-/:-@\[-`{-~]+")
# Characters that mean something in a tsquery; a word is cut at them.
_TSQUERY_SPECIAL = re.compile(r"[':&|!()*<>\\]+")
_LOCAL_PART_SEPARATORS = re.compile(r"[._+\-\s]+")

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Kind:
    """How one type of record is searched: its table, the SQL of its document (as indexed),
    of its title and subtitle, and whether it has an e-mail token index and a phone index."""

    name: str
    model: type[models.Model]
    document: str
    title: str
    subtitle: str
    email: bool = False
    phone: bool = False


def _columns(table: str, template: str) -> str:
    """`template` with each `{column}` qualified by `table`, as a query names it."""
    return re.sub(r"\{(\w+)\}", lambda m: f'"{table}"."{m.group(1)}"', template)


_KINDS = {
    "contacts": _Kind(
        name="contacts",
        model=Contact,
        document=_columns("crm_contact", "{first_name} || ' ' || {last_name}"),
        title=_columns("crm_contact", "trim({first_name} || ' ' || {last_name})"),
        subtitle=_columns("crm_contact", "{title}"),
        email=True,
        phone=True,
    ),
    "companies": _Kind(
        name="companies",
        model=Company,
        document=_columns("crm_company", "{name} || ' ' || {domain}"),
        title=_columns("crm_company", "{name}"),
        subtitle=_columns("crm_company", "{domain}"),
    ),
    "leads": _Kind(
        name="leads",
        model=Lead,
        document=_columns(
            "crm_lead", "{first_name} || ' ' || {last_name} || ' ' || {company_name}"
        ),
        title=_columns("crm_lead", "trim({first_name} || ' ' || {last_name})"),
        subtitle=_columns("crm_lead", "{company_name}"),
        email=True,
        phone=True,
    ),
    "deals": _Kind(
        name="deals",
        model=Deal,
        document=_columns("crm_deal", "{name}"),
        title=_columns("crm_deal", "{name}"),
        subtitle=_columns("crm_deal", "{currency} || ' ' || {amount}::text"),
    ),
}
_KIND_OF_MODEL = {kind.model: kind for kind in _KINDS.values()}


@dataclass(frozen=True)
class SearchHit:
    type: str
    id: int
    title: str
    subtitle: str
    rank: float


def clean_query(text: str) -> str:
    """The typed text as searched: NUL characters dropped, spaces trimmed, cut to length."""
    return text.replace("\x00", "").strip()[:MAX_QUERY_LENGTH]


def _words(text: str) -> list[str]:
    """The words of the typed text, for the full-text and typo conditions."""
    words: list[str] = []
    for chunk in _WHITESPACE.split(text):
        cleaned = _TSQUERY_SPECIAL.sub(" ", chunk).strip()
        # Punctuation alone is no word.
        words.extend(w for w in _WHITESPACE.split(cleaned) if _PUNCTUATION.sub("", w))
    return words[:MAX_WORDS]


def _spaced(folded_sql: str) -> str:
    """SQL: folded text with its words between single spaces, and a space at each end."""
    return f"(' ' || regexp_replace({folded_sql}, '[[:space:][:punct:]]+', ' ', 'g') || ' ')"


_SPACED = "found.spaced"


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _tsquery(words: Sequence[str], *, prefix: bool) -> str:
    return " & ".join(f"'{w}'{':*' if prefix else ''}" for w in words)


def _email_alternatives(text: str) -> list[list[str]]:
    """Sets of e-mail words (as `pii.fields.email_tokens` names them), any of which, all
    present in an address, makes it match: "zoe.muller" is two words of the local part,
    "example.com" a domain (or two words of a local part), "zoe@example.com" both."""
    lowered = normalize_email(text)
    if "@" in lowered:
        local, _, domain = lowered.rpartition("@")
        words = email_tokens(f"{local or 'x'}@{domain}") if domain else []
        if not local:
            words = [w for w in words if not w.startswith("local:")]
        if not domain:
            words = [f"local:{p}" for p in _LOCAL_PART_SEPARATORS.split(local) if p]
        return [words] if words else []
    alternatives = []
    pieces = [f"local:{p}" for p in _LOCAL_PART_SEPARATORS.split(lowered) if p]
    if pieces:
        alternatives.append(pieces[:MAX_WORDS])
    domain = lowered.strip(".")
    if "." in domain and not _WHITESPACE.search(domain):
        # As a domain: its own word only (a row holding it holds its parents too).
        alternatives.append([f"domain:{domain}"])
    return alternatives


@dataclass(frozen=True)
class _Conditions:
    """SQL of one type for one text: what matches, how it ranks (over `_SPACED`), and what
    matches best (every word whole, or the e-mail address or phone number)."""

    where: str
    params: list[Any]
    rank: str
    rank_params: list[Any]
    best: str
    best_params: list[Any]


def _conditions(kind: _Kind, text: str) -> _Conditions | None:
    """The SQL of `kind` for the typed `text`, or None if nothing can match it."""
    words = _words(text)
    document = kind.document
    folded = f"public.mycrm_fold({document})"
    vector = f"to_tsvector('simple'::regconfig, {folded})"
    typos = f"public.mycrm_typo_keys({document})"

    where: list[str] = []
    params: list[Any] = []
    if words:
        each = []
        for word in words:
            # The word as the text parser reads it ("acme.com" is a host name), or else each
            # of its pieces between punctuation, in full, as a prefix or with a typo.
            alternatives = [f"{vector} @@ to_tsquery('simple'::regconfig, public.mycrm_fold(%s))"]
            params.append(_tsquery([word], prefix=True))
            pieces = [piece for piece in _PUNCTUATION.split(word) if piece]
            if pieces != [word]:
                alternatives.append(
                    "("
                    + " AND ".join(
                        f"({vector} @@ to_tsquery('simple'::regconfig, public.mycrm_fold(%s)))"
                        for _ in pieces
                    )
                    + ")"
                )
                params.extend(_tsquery([piece], prefix=True) for piece in pieces)
            if len(pieces) == 1 and len(pieces[0]) >= _TYPO_LETTERS:
                alternatives.append(f"{typos} && public.mycrm_typo_keys(%s)")
                params.append(pieces[0])
            each.append("(" + " OR ".join(alternatives) + ")")
        where.append("(" + " AND ".join(each) + ")")

    exact: list[str] = []
    exact_params: list[Any] = []
    if kind.email:
        table = connection.ops.quote_name(kind.model._meta.db_table)
        for alternative in _email_alternatives(text):
            exact.append(f"{table}.email_tokens @> %s::text[]")
            exact_params.append(token_digests_for(kind.model, "email", alternative))
    if kind.phone and sum(ch.isdigit() for ch in text) >= _PHONE_DIGITS:
        table = connection.ops.quote_name(kind.model._meta.db_table)
        exact.append(f"{table}.phone_index = %s")
        exact_params.append(blind_index_for(kind.model, "phone", text))
    if exact:
        where.append("(" + " OR ".join(exact) + ")")
        params.extend(exact_params)
    if not where:
        return None

    # Ranked on `_SPACED` (the folded document, its words between single spaces), which
    # `search` computes once a row: cheap string tests, for the few rows found.
    pieces = [p for w in words for p in _PUNCTUATION.split(w) if p]
    rank_parts = [f"(CASE WHEN {_SPACED} = {_spaced('public.mycrm_fold(%s)')} THEN 8 ELSE 0 END)"]
    rank_params: list[Any] = [text]
    if pieces:
        whole = " AND ".join(f"{_SPACED} LIKE public.mycrm_fold(%s)" for _ in pieces)
        rank_parts.append(f"(CASE WHEN {whole} THEN 4 ELSE 0 END)")
        rank_params.extend(f"% {_like_escaped(p)} %" for p in pieces)
        prefixes = " AND ".join(f"{_SPACED} LIKE public.mycrm_fold(%s)" for _ in pieces)
        rank_parts.append(f"(CASE WHEN {prefixes} THEN 2 ELSE 0 END)")
        rank_params.extend(f"% {_like_escaped(p)}%" for p in pieces)
    if exact:
        rank_parts.append("(CASE WHEN " + " OR ".join(exact) + " THEN 4 ELSE 0 END)")
        rank_params.extend(exact_params)
    # Within a rank, the name closest in length to the text first (a fraction below 1).
    rank_parts.append(f"(1.0 / (1 + abs(length({_SPACED}) - 2 - %s)))")
    rank_params.append(len(text))
    exact_words = " AND ".join(
        f"{vector} @@ to_tsquery('simple'::regconfig, public.mycrm_fold(%s))" for _ in words
    )
    best_where = " OR ".join(([f"({exact_words})"] if words else []) + exact)
    best_params = [_tsquery([w], prefix=False) for w in words] + exact_params
    return _Conditions(
        " OR ".join(where), params, " + ".join(rank_parts), rank_params, best_where, best_params
    )


class _EveryRecord:
    """The searcher of code that runs for nobody in particular: every record is found."""


EVERY_RECORD = _EveryRecord()
# The record type of the decision point (`iam.authz`) of each searched type.
RECORD_TYPES = {"contacts": "contact", "companies": "company", "leads": "lead", "deals": "deal"}


def _visible_sql(type_: str, principal: authz.Principal | None) -> tuple[str, list[Any]] | None:
    """The SQL (and its parameters) of the ids of `type_` that `principal` may view, as a
    condition on a row of its table; ("", []) when they may view every one; None when none."""
    kind = _KINDS[type_]
    records = kind.model._default_manager.all()
    narrowed = authz.visible(records, principal, RECORD_TYPES[type_])
    if narrowed is records:  # nothing narrowed: every record
        return "", []
    try:
        sql, params = narrowed.values("pk").query.sql_with_params()
    except EmptyResultSet:  # no right to any, and nothing shared
        return None
    return f" AND id IN ({sql})", list(params)


def search(
    *,
    text: str,
    types: Sequence[str] = TYPES,
    limit: int = 5,
    principal: authz.Principal | None | _EveryRecord = EVERY_RECORD,
) -> dict[str, list[SearchHit]]:
    """The best `limit` records of each of `types` for the typed `text` that `principal` may
    view (roles, ownership, teams and shares, in the statement itself), best first, in one
    statement. Types with nothing found have an empty list.

    Pages and the API pass the principal of the request; leaving it out searches every
    record, for code that runs for nobody in particular (benchmarks, maintenance)."""
    text = clean_query(text)
    limit = max(1, min(limit, MAX_LIMIT))
    found: dict[str, list[SearchHit]] = {t: [] for t in TYPES if t in types}
    if not text:
        return found
    parts: list[str] = []
    params: list[Any] = []
    for type_ in found:
        kind = _KINDS[type_]
        conditions = _conditions(kind, text)
        if conditions is None:
            continue
        allowed: tuple[str, list[Any]] | None = ("", [])
        if not isinstance(principal, _EveryRecord):
            allowed = _visible_sql(type_, principal)
        if allowed is None:
            continue
        only, only_params = allowed
        table = connection.ops.quote_name(kind.model._meta.db_table)
        spaced = _spaced(f"public.mycrm_fold({kind.document})")
        # Ranked among the best matches (every word whole) and the first others found, at
        # most CANDIDATES of each: a prefix of two letters may match a tenth of the rows.
        parts.append(
            f"(SELECT %s AS type, {table}.id, {kind.title} AS title, "  # noqa: S608
            f"{kind.subtitle} AS subtitle, ({conditions.rank})::float AS rank "
            # Trashed records are never found (nor take a candidate's place).
            f"FROM ((SELECT id FROM {table} WHERE deleted_at IS NULL AND ({conditions.best})"
            f"{only} LIMIT %s) "
            f"UNION (SELECT id FROM {table} WHERE deleted_at IS NULL AND ({conditions.where})"
            f"{only} LIMIT %s)) AS candidate "
            f"JOIN {table} ON {table}.id = candidate.id, "
            # OFFSET 0: computed once a row, not again in every test of the rank.
            f"LATERAL (SELECT {spaced} AS spaced OFFSET 0) AS found "
            f"ORDER BY rank DESC, {table}.id DESC LIMIT %s)"
        )
        params += [
            type_,
            *conditions.rank_params,
            *conditions.best_params,
            *only_params,
            CANDIDATES,
            *conditions.params,
            *only_params,
            CANDIDATES,
            limit,
        ]
    if not parts:
        return found
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    for type_, pk, title, subtitle, rank in rows:
        found[type_].append(SearchHit(type_, pk, title or "", subtitle or "", float(rank)))
    log.info(
        "crm.search",
        types=list(found),
        length=len(text),
        found={t: len(hits) for t, hits in found.items()},
    )
    return found


def search_filter(queryset: QuerySet[M], text: str) -> QuerySet[M]:
    """`queryset` (of contacts, companies, leads or deals) narrowed to what the search finds
    for `text`, as the search box would, for the lists' own search boxes: the caller keeps
    its other filters and its ordering."""
    text = clean_query(text)
    if not text:
        return queryset
    kind = _KIND_OF_MODEL[queryset.model]
    conditions = _conditions(kind, text)
    if conditions is None:
        return queryset.none()
    # A statement of its own, naming its table: the queryset may be aliased in a subquery.
    # Every value is a parameter; the SQL is this module's own.
    table = connection.ops.quote_name(kind.model._meta.db_table)
    matching = RawSQL(  # noqa: S611
        f"SELECT id FROM {table} WHERE {conditions.where}",  # noqa: S608
        conditions.params,
    )
    return queryset.filter(pk__in=matching)
