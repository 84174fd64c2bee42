"""Plans and payments: the default provider, dunning periods, provider keys and endpoints."""

from . import env as e

BILLING_DEFAULT_PROVIDER = e.BILLING_DEFAULT_PROVIDER
BILLING_DEFAULT_CURRENCY = e.BILLING_DEFAULT_CURRENCY
# Days after a failed payment before the organization becomes read-only, then suspended.
BILLING_GRACE_DAYS = e.BILLING_GRACE_DAYS
BILLING_SUSPEND_DAYS = e.BILLING_SUSPEND_DAYS
# Days before a trial ends that its owners are reminded.
BILLING_TRIAL_REMINDER_DAYS = 3
# How long a Stripe webhook's signed timestamp stays acceptable (Stripe's own default).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
PADDLE_WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_API_KEY = e.STRIPE_API_KEY
STRIPE_API_BASE = e.STRIPE_API_BASE
STRIPE_WEBHOOK_SECRET = e.STRIPE_WEBHOOK_SECRET
PADDLE_API_KEY = e.PADDLE_API_KEY
PADDLE_API_BASE = e.PADDLE_API_BASE
PADDLE_WEBHOOK_SECRET = e.PADDLE_WEBHOOK_SECRET
PADDLE_CLIENT_TOKEN = e.PADDLE_CLIENT_TOKEN
# How long after a member joins or leaves the seats are synced with the provider: changes
# within that window are sent as one.
BILLING_SEATS_SYNC_DELAY_SECONDS = 5

# A suspended organization still serves these paths (each checks who may use it), so its
# owners can sign in and pay what suspended it; its suspended page links to the first.
TENANT_SUSPENDED_SETTLE_PATH = "/settings/billing/"
TENANT_SUSPENDED_SERVED_PATHS = (
    TENANT_SUSPENDED_SETTLE_PATH,
    "/api/v1/billing/",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/password/reset/",
    "/auth/handoff/",
)
