"""A password hasher that counts its work, to show sign-in hashes a password whether or not
the account exists (no answer comes back faster for an unknown address)."""

from typing import ClassVar

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingMD5Hasher(MD5PasswordHasher):
    """The suite's MD5 hasher (same algorithm name, so existing hashes verify), counting."""

    calls: ClassVar[list[str]] = []

    def encode(self, password: str, salt: str) -> str:
        CountingMD5Hasher.calls.append("encode")
        return super().encode(password, salt)
