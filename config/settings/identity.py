"""Users, sessions and django-allauth."""

from . import env as e

AUTH_USER_MODEL = "iam.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Sign-up sends a link that confirms the address; until it is followed, pages show a banner
# that offers to send it again. Signing in does not wait for it.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_EMAIL_CONFIRMATION_AUTHENTICATED_REDIRECT_URL = "/workspaces/"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
}
# Rate limits count per client address: allauth's and django-ratelimit's (the live subdomain
# check) both take it from X-Forwarded-For behind TRUSTED_PROXY_COUNT proxies.
ALLAUTH_TRUSTED_PROXY_COUNT = e.TRUSTED_PROXY_COUNT
RATELIMIT_IP_META_KEY = "allauth.core.internal.httpkit.get_client_ip"
RATELIMIT_VIEW = "public_site.views.too_many_requests"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = e.PUBLIC_SCHEME
ACCOUNT_ADAPTER = "iam.adapters.AccountAdapter"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
# A session ends after this long without a request, or this long after signing in, unless
# the organization whose host it is on set its own (Settings → Security).
SESSION_IDLE_MINUTES = 120
SESSION_MAX_HOURS = 24 * 7

# Two-step verification (django-allauth's MFA): authenticator apps, security keys and
# passkeys (which also sign in without a password), and recovery codes.
MFA_ADAPTER = "iam.security.mfa.MfaAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "MyCRM"
# Browsers only offer WebAuthn to https pages and to http on localhost; development and
# test hosts are plain http, so their origin is not held against them there.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not e.IS_PRODUCTION
SESSION_COOKIE_DOMAIN = e.SESSION_COOKIE_DOMAIN_VALUE
SESSION_COOKIE_SECURE = e.IS_PRODUCTION
CSRF_COOKIE_SECURE = e.IS_PRODUCTION
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if e.IS_PRODUCTION else None
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if e.IS_PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = e.IS_PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = e.SECURE_SSL_REDIRECT
# Probes talk plain HTTP to the pod; patterns match the path without its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Domain verification for single sign-on resolves TXT records here (docs/operations.md).
SSO_DNS_NAMESERVER = e.SSO_DNS_NAMESERVER
SSO_DNS_PORT = e.SSO_DNS_PORT
