"""The tenant API honours its own OpenAPI schema: schemathesis with every check enabled,
against a real server, as an API client of one organization would use it."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from .conftest import ROOT, run_manage

# The test database must exist; the server and the commands commit to it.
pytestmark = pytest.mark.django_db


def test_api_conforms_to_its_openapi_schema(
    live_url: str, live_env: dict[str, str], tmp_path: Path
) -> None:
    slug = f"contract-{uuid.uuid4().hex[:6]}"
    run_manage(
        live_env,
        "create_tenant",
        "--slug",
        slug,
        "--name",
        "Contract",
        "--owner-email",
        f"owner@{slug}.test",
        "--owner-password",
        "a-Long-passphrase-42",
    )
    token = run_manage(
        live_env, "create_api_token", "--tenant", slug, "--email", f"owner@{slug}.test"
    )
    port = urlsplit(live_url).port
    host = f"{slug}.localhost:{port}"
    headers = {"Host": host, "Authorization": f"Bearer {token}"}
    schema = requests.get(f"http://127.0.0.1:{port}/api/schema/", headers=headers, timeout=10)
    assert schema.status_code == 200
    schema_file = tmp_path / "openapi.yaml"
    schema_file.write_bytes(schema.content)

    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(schema_file),
            "--url",
            f"http://127.0.0.1:{port}",
            "-H",
            f"Host: {host}",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            # Per operation, on top of the coverage phase's own cases (every documented status,
            # boundary and missing field); 150 operations keep the whole run within minutes.
            "--max-examples",
            "8",
            "--generation-deterministic",
            "--no-color",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # Every operation of the schema was exercised, none skipped as unsupported.
    paths = yaml.safe_load(schema.content)["paths"]
    operations = sum(
        method in {"get", "put", "post", "patch", "delete"}
        for path in paths.values()
        for method in path
    )
    assert operations > 28  # the contact API alone had 28 before the sales cycle's resources
    assert f"Tested: {operations}" in result.stdout or f"{operations}/{operations}" in result.stdout
