"""Liveness and readiness probes, served on every host."""

import hvac
import redis
import structlog
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from iam.authz.guards import open_route
from problems.responses import problem_body

log = structlog.get_logger(__name__)


@open_route("a health probe: says only that the process is up")
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")


def _check_redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_vault() -> None:
    client = hvac.Client(url=settings.VAULT_ADDR, token=settings.VAULT_TOKEN or None, timeout=2)
    health = client.sys.read_health_status(method="GET")
    if isinstance(health, dict):
        if health.get("sealed") or not health.get("initialized", True):
            raise RuntimeError("vault is sealed or not initialized")
    elif getattr(health, "status_code", 200) >= 400:
        raise RuntimeError(f"vault health returned {health.status_code}")


_CHECKS = (("database", _check_database), ("redis", _check_redis), ("vault", _check_vault))


@open_route("a health probe: names failing services, never data")
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and Vault are reachable; otherwise 503 naming each failing part."""
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in _CHECKS:
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - a probe reports every failure, it never raises
            log.warning("readyz.failing", part=name, error=repr(exc))
            results[name] = f"error: {exc.__class__.__name__}"
            failing.append(name)
        else:
            results[name] = "ok"
    if not failing:
        return JsonResponse({"status": "ok", "checks": results})
    body = problem_body(
        status=503,
        code="not-ready",
        title="A dependency is unavailable.",
        detail=f"Failing: {', '.join(failing)}.",
        checks=results,
        failing=failing,
    )
    return JsonResponse(body, status=503, content_type="application/problem+json")
