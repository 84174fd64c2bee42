"""The devstack tests drive subprocesses only; they neither need nor touch Django's database."""

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _schema_is_public_around_each_test() -> Iterator[None]:
    """Override the suite-wide schema guard: nothing here uses a Django connection."""
    yield
