"""Django core: database, cache, templates, static files, e-mail."""

# redis-py's modules import one another in a cycle, which only resolves when one thread
# imports the package first. The development server's reloader imports the URLconf in one
# thread while its system checks open the cache in another; importing it here, with the
# settings, leaves no package half-imported for them to race on.
import redis  # noqa: F401
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from . import env as e

BASE_DIR = e.BASE_DIR
DEBUG = e.DEBUG

if e.SECRET_KEY_VALUE:
    SECRET_KEY = e.SECRET_KEY_VALUE
elif e.IS_PRODUCTION:
    raise ImproperlyConfigured("SECRET_KEY must be set in production.")
else:
    SECRET_KEY = "development-only-secret-key-not-for-production"  # noqa: S105

if e.DATABASE_POOL_MODE == "transaction":
    # A session-level SET search_path leaks to the next client under transaction pooling.
    raise ImproperlyConfigured(
        "DATABASE_POOL_MODE=transaction is not supported: schema-per-tenant routing sets "
        "search_path per session. Use PgBouncer in session mode or connect directly."
    )

_db = e.env.db_url_config(e.DATABASE_URL)
_db["ENGINE"] = "tenants.db"
_db["CONN_MAX_AGE"] = e.DATABASE_CONN_MAX_AGE
_db["CONN_HEALTH_CHECKS"] = True
_db["TEST"] = {"NAME": "test_mycrm"}
DATABASES = {"default": _db}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = e.REDIS_URL
VAULT_ADDR = e.VAULT_ADDR
VAULT_TOKEN = e.VAULT_TOKEN
VAULT_AUTH_METHOD = e.VAULT_AUTH_METHOD
VAULT_AUTH_MOUNT = e.VAULT_AUTH_MOUNT
VAULT_ROLE = e.VAULT_ROLE
VAULT_APPROLE_ROLE_ID = e.VAULT_APPROLE_ROLE_ID
VAULT_APPROLE_SECRET_ID = e.VAULT_APPROLE_SECRET_ID
VAULT_K8S_TOKEN_PATH = e.VAULT_K8S_TOKEN_PATH
VAULT_TRANSIT_MOUNT = e.VAULT_TRANSIT_MOUNT
PII_TRANSIT_KEY = e.PII_TRANSIT_KEY
PII_KEY_CACHE_SECONDS = e.PII_KEY_CACHE_SECONDS
PII_KEY_CURRENT_SECONDS = e.PII_KEY_CURRENT_SECONDS

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": e.REDIS_URL,
        "KEY_FUNCTION": "tenants.cache.tenant_cache_key",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

MIDDLEWARE = [
    "tenants.middleware.TenantRoutingMiddleware",
    "problems.middleware.ApiProblemMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iam.middleware.TenantMembershipMiddleware",
    # The request id, and who acts from where, for the audit log and the logs.
    "iam.audit.context.AuditContextMiddleware",
    # An operator acting as a member: checked, marked and limited (iam/impersonation/).
    "iam.impersonation.middleware.ImpersonationMiddleware",
    "problems.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Sessions end after their idle and absolute timeouts; an organization that requires
    # MFA sends a member without it to set it up first (iam/security/middleware.py).
    "iam.security.middleware.SessionTimeoutMiddleware",
    "iam.security.middleware.MfaRequiredMiddleware",
    # An organization whose payment is overdue past the grace period may read, not write.
    "billing.middleware.ReadOnlyOrganizationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Development only (it leaves the chain without DEBUG): the product's 404 page.
    "problems.middleware.NotFoundPageInDevelopmentMiddleware",
]

if e.IS_PRODUCTION:
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenancy",
                "iam.context_processors.identity",
                "billing.context_processors.billing",
            ],
        },
    }
]

WSGI_APPLICATION = "config.wsgi.application"

LANGUAGE_CODE = "en-us"
# One way of writing dates and times on every page (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / ".staticfiles"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if e.IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

_email = e.env.email_url_config(e.EMAIL_URL)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
if "EMAIL_FILE_PATH" in _email:  # filemail:///dir: one file per message (used by tests)
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = e.DEFAULT_FROM_EMAIL

CELERY_BROKER_URL = e.REDIS_URL
CELERY_RESULT_BACKEND = e.REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
# A request that queues work must not hang when Redis is away: give up publishing after
# about a second and let the caller decide (sign-up, for one, still succeeds).
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.4,
}
# Periodic work, run by one `celery beat` process. A per-organization task is scheduled
# through `tenants.tasks.organizations_fan_out`, which queues it once in every active
# organization's schema: {"task": "tenants.tasks.organizations_fan_out", "args": [name]}.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "idempotency-keys-expire": {"task": "iam.tasks.idempotency_keys_expire", "schedule": 3600.0},
    # Sign-up requests whose mailed link has expired are forgotten (public schema).
    "signup-pending-expire": {
        "task": "public_site.tasks.signup_pending_expire",
        "schedule": 3600.0,
    },
    # Records trashed more than 30 days ago are deleted for good, in every organization.
    "crm-trash-purge": {
        "task": "tenants.tasks.organizations_fan_out",
        "args": ["crm.tasks.trash_purge_expired"],
        "schedule": 3600.0,
    },
    # Each organization's lead scoring model is retrained on its own history, and its leads
    # and contacts rescored (so scores decay with inactivity), every night.
    "crm-scoring-nightly": {
        "task": "tenants.tasks.organizations_fan_out",
        "args": ["crm.tasks.scoring_nightly"],
        "schedule": crontab(hour=2, minute=30),
    },
    # Audit rows older than each organization's retention are deleted, nightly.
    "iam-audit-retention": {
        "task": "tenants.tasks.organizations_fan_out",
        "args": ["iam.org.tasks.audit_retention_purge"],
        "schedule": crontab(hour=1, minute=45),
    },
    # Operator impersonations past their time limit that nobody ended are ended and logged.
    "iam-impersonations-expire": {
        "task": "iam.impersonation.tasks.impersonations_expire_due",
        "schedule": 60.0,
    },
    # SAML identity providers' metadata, for connections set up from a URL, is fetched
    # again, so a signing certificate they rotate is picked up (public schema).
    "iam-sso-saml-metadata-refresh": {
        "task": "iam.sso.tasks.saml_metadata_refresh",
        "schedule": 6 * 3600.0,
    },
    # Provider events whose task was lost, or that failed, are applied again.
    "billing-webhooks-retry": {"task": "billing.tasks.webhooks_retry", "schedule": 60.0},
    # Billing works on shared tables in `public`: no fan-out over organizations.
    "billing-trials-remind": {"task": "billing.tasks.trials_remind", "schedule": 3600.0},
    "billing-trials-expire": {"task": "billing.tasks.trials_expire", "schedule": 3600.0},
    "billing-dunning-advance": {"task": "billing.tasks.dunning_advance", "schedule": 3600.0},
    # Seats billed that drifted from the members (a sync lost on the way) are synced again.
    "billing-seats-reconcile": {"task": "billing.tasks.seats_reconcile", "schedule": 3600.0},
    "billing-reconcile-nightly": {
        "task": "billing.tasks.billing_reconcile",
        "schedule": crontab(hour=3, minute=15),
    },
}
