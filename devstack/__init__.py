"""Embedded PostgreSQL 16, Redis and OpenBao for development and tests.

`python -m devstack run --profile dev|test -- CMD...` starts whatever of the three services the
environment does not already provide, runs CMD with DATABASE_URL, REDIS_URL, VAULT_ADDR and
VAULT_TOKEN set, then stops what it started. Everything lives under `.devstack/` at the repo root,
except PostgreSQL's cluster when its service user can't enter the checkout (see `postgres_home`).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_ROOT = REPO_ROOT / ".devstack"
