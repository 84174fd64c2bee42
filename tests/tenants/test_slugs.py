"""Slug rules, over the whole input space: what is accepted is a usable DNS label and schema."""

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenants.exceptions import SlugInvalid, SlugReserved
from tenants.slugs import RESERVED_SLUGS, schema_name_for, validate_slug

DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_.é ", max_size=50))
def test_any_accepted_slug_is_a_dns_label_and_a_safe_schema_name(raw: str) -> None:
    try:
        slug = validate_slug(raw)
    except (SlugInvalid, SlugReserved):
        return
    assert DNS_LABEL.match(slug)
    assert 3 <= len(slug) <= 40
    assert slug not in RESERVED_SLUGS
    schema = schema_name_for(slug)
    assert re.fullmatch(r"t_[a-z0-9_]+", schema) and len(schema) <= 63


@given(st.from_regex(r"[a-z0-9][a-z0-9-]{1,38}[a-z0-9]", fullmatch=True))
def test_distinct_slugs_never_share_a_schema(slug: str) -> None:
    other = slug[::-1]
    if other != slug:
        assert schema_name_for(slug) != schema_name_for(other)


@pytest.mark.parametrize("slug", ["www", "api", "admin", "app", "mail", "static"])
def test_reserved_words_are_refused(slug: str) -> None:
    with pytest.raises(SlugReserved):
        validate_slug(slug)
