from collections.abc import Iterator

import pytest

from pii import keys


@pytest.fixture(autouse=True)
def _no_keys_in_memory() -> Iterator[None]:
    """Each test's key rows are rolled back, so unwrapped keys must not outlive the test."""
    keys.forget_all()
    yield
    keys.forget_all()
