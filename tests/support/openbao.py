"""An OpenBao server of a test's own, which the test may seal and unseal.

The devstack's test OpenBao runs in `-dev` mode: its unseal key is only printed to its log, and
every other test in the process relies on it being up. A test that takes Vault out of service
therefore starts its own server with the devstack's helper, in the devstack's persistent
configuration (raft storage, Shamir seal, the unseal key and root token kept in `init.json`),
which is how a production server seals and unseals too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac

from devstack.services import OpenBaoService, PortReservation


@dataclass
class SealableOpenBao:
    service: OpenBaoService

    @property
    def addr(self) -> str:
        return self.service.addr

    @property
    def token(self) -> str:
        """The root token."""
        return self.service.token

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.token, timeout=5)

    def health(self) -> dict[str, Any]:
        """`sys/health`, whatever its status code (503 sealed, 429 standby)."""
        response = self.root().sys.read_health_status(method="GET")
        return response if isinstance(response, dict) else dict(response.json())

    def seal(self) -> None:
        """Seal the server (`sys/seal` with the root token): it keeps running but serves nothing."""
        self.root().sys.seal()
        if not self.health()["sealed"]:
            raise RuntimeError("OpenBao did not seal")

    def unseal(self, timeout: float = 30.0) -> None:
        """Submit the unseal key(s) and wait until the server is active again."""
        keys = json.loads(self.service.init_path.read_text())["keys"]
        self.root().sys.submit_unseal_keys(keys)
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if not health["sealed"] and not health.get("standby"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"OpenBao is not active {timeout}s after unsealing: {health}")
            time.sleep(0.05)


@contextmanager
def sealable_openbao(directory: Path) -> Iterator[SealableOpenBao]:
    """Run a fresh, initialized and unsealed OpenBao (Transit mounted) under `directory`; it is
    stopped when the block ends."""
    ports = PortReservation()
    port = ports.pair()  # the API port and the cluster port after it
    ports.release()
    service = OpenBaoService(directory, "dev", port)
    service.start()
    try:
        service.wait_ready(time.monotonic() + 30)
        yield SealableOpenBao(service)
    finally:
        service.stop()
