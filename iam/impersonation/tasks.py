"""The sweep that ends impersonations past their time limit which nobody ended."""

from celery import shared_task

from tenants.celery import PublicTask

from .services import impersonations_expire


@shared_task(base=PublicTask, ignore_result=True)
def impersonations_expire_due() -> int:
    """End and log every impersonation past its time limit (shared tables, `public`)."""
    return impersonations_expire()
