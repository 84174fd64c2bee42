"""Background work of the public site; it runs in `public`, where sign-up requests are."""

from celery import shared_task

from tenants.celery import PublicTask

from .services import signup_pending_purge


@shared_task(base=PublicTask, ignore_result=True)
def signup_pending_expire() -> int:
    """Forget sign-up requests whose link has expired (hourly, from celery beat)."""
    return signup_pending_purge()
