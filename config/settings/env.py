"""The one module that reads the environment; every other settings module imports from here."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

ENVIRONMENT: str = env.str("MYCRM_ENV", default="development")
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG: bool = env.bool("DEBUG", default=not IS_PRODUCTION)

SECRET_KEY_VALUE: str | None = env.str("SECRET_KEY", default=None)
DATABASE_URL: str = env.str("DATABASE_URL", default="postgres://localhost/mycrm")
DATABASE_POOL_MODE: str = env.str("DATABASE_POOL_MODE", default="session")
DATABASE_CONN_MAX_AGE: int = env.int("DATABASE_CONN_MAX_AGE", default=60)
REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
VAULT_ADDR: str = env.str("VAULT_ADDR", default="http://127.0.0.1:8200")
VAULT_TOKEN: str = env.str("VAULT_TOKEN", default="")
VAULT_AUTH_METHOD: str = env.str("VAULT_AUTH_METHOD", default="token")
VAULT_AUTH_MOUNT: str = env.str("VAULT_AUTH_MOUNT", default="")
VAULT_ROLE: str = env.str("VAULT_ROLE", default="")
VAULT_APPROLE_ROLE_ID: str = env.str("VAULT_APPROLE_ROLE_ID", default="")
VAULT_APPROLE_SECRET_ID: str = env.str("VAULT_APPROLE_SECRET_ID", default="")
VAULT_K8S_TOKEN_PATH: str = env.str(
    "VAULT_K8S_TOKEN_PATH", default="/var/run/secrets/kubernetes.io/serviceaccount/token"
)
VAULT_TRANSIT_MOUNT: str = env.str("VAULT_TRANSIT_MOUNT", default="transit")
PII_TRANSIT_KEY: str = env.str("PII_TRANSIT_KEY", default="mycrm-tenant-keys")
PII_KEY_CACHE_SECONDS: float = env.float("PII_KEY_CACHE_SECONDS", default=300.0)
PII_KEY_CURRENT_SECONDS: float = env.float("PII_KEY_CURRENT_SECONDS", default=5.0)

BASE_DOMAIN: str = env.str("BASE_DOMAIN", default="localhost")
PUBLIC_SCHEME: str = env.str("PUBLIC_SCHEME", default="https" if IS_PRODUCTION else "http")
PUBLIC_PORT: str = env.str("PUBLIC_PORT", default="" if IS_PRODUCTION else "8000")
SESSION_COOKIE_DOMAIN_VALUE: str | None = env.str("SESSION_COOKIE_DOMAIN", default=None)
EXTRA_ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS_VALUE: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

EMAIL_URL: str = env.str("EMAIL_URL", default="consolemail://")
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="MyCRM <no-reply@localhost>")
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
LOG_JSON: bool = env.bool("LOG_JSON", default=IS_PRODUCTION)
TENANT_HOST_CACHE_SECONDS: float = env.float("TENANT_HOST_CACHE_SECONDS", default=5.0)
TENANT_HOST_CACHE_SUBSCRIBED_SECONDS: float = env.float(
    "TENANT_HOST_CACHE_SUBSCRIBED_SECONDS", default=300.0
)
# How many proxies in front of the app append to X-Forwarded-For; 0 trusts the socket's peer.
TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)
# Redirect plain-HTTP requests to HTTPS (health checks excepted); off where the load
# balancer redirects already.
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
TENANT_SPARE_SCHEMAS: int = env.int("TENANT_SPARE_SCHEMAS", default=3)

# Billing. The provider new organizations get ("stripe", "paddle" or "manual"); operators can
# switch one. Keys and webhook secrets come from each provider's dashboard (docs/operations.md);
# the API bases point the SDKs elsewhere than the real services (the devstack's local ones).
BILLING_DEFAULT_PROVIDER: str = env.str("BILLING_DEFAULT_PROVIDER", default="stripe")
BILLING_DEFAULT_CURRENCY: str = env.str("BILLING_DEFAULT_CURRENCY", default="USD")
BILLING_GRACE_DAYS: int = env.int("BILLING_GRACE_DAYS", default=7)
BILLING_SUSPEND_DAYS: int = env.int("BILLING_SUSPEND_DAYS", default=14)
STRIPE_API_KEY: str = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET: str = env.str("STRIPE_WEBHOOK_SECRET", default="")
PADDLE_API_KEY: str = env.str("PADDLE_API_KEY", default="")
PADDLE_API_BASE: str = env.str("PADDLE_API_BASE", default="")
PADDLE_WEBHOOK_SECRET: str = env.str("PADDLE_WEBHOOK_SECRET", default="")
PADDLE_CLIENT_TOKEN: str = env.str("PADDLE_CLIENT_TOKEN", default="")

# Single sign-on: the DNS server that checks domain-verification records (empty: the
# system's resolver), and its port.
SSO_DNS_NAMESERVER: str = env.str("SSO_DNS_NAMESERVER", default="")
SSO_DNS_PORT: int = env.int("SSO_DNS_PORT", default=53)
