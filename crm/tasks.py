"""Background work on CRM records. Tasks run inside the organization they were queued in
(`tenants.celery.TenantRequiredTask`); the beat schedule reaches every organization through
`tenants.tasks.organizations_fan_out`."""

from celery import shared_task

from .services import scoring
from .services.trash import trash_purge


@shared_task(ignore_result=True)  # the counts go to the log
def trash_purge_expired() -> dict[str, int]:
    """Delete for good this organization's records that have been in the trash longer than
    they are kept (`crm.services.trash.TRASH_DAYS`)."""
    return trash_purge()


@shared_task(ignore_result=True)
def lead_score_refresh(lead_id: int) -> int:
    """Rescore one lead of this organization (queued when it or its activities change)."""
    scoring.score_pending_clear(kind="lead", pk=lead_id)
    return scoring.leads_score_refresh(lead_ids=[lead_id])


@shared_task(ignore_result=True)
def contact_score_refresh(contact_id: int) -> int:
    """Rescore one contact of this organization (queued when its activities change)."""
    scoring.score_pending_clear(kind="contact", pk=contact_id)
    return scoring.contacts_score_refresh(contact_ids=[contact_id])


@shared_task(ignore_result=True)
def scores_refresh_all() -> dict[str, int]:
    """Rescore every lead and contact of this organization (its rules changed)."""
    scoring.score_pending_clear(kind="all", pk=0)
    return {
        "leads": scoring.leads_score_refresh(),
        "contacts": scoring.contacts_score_refresh(),
    }


@shared_task(ignore_result=True)  # the counts go to the log
def scoring_nightly() -> dict[str, object]:
    """Retrain this organization's scoring model on its own history and rescore its leads
    and contacts, so scores decay with inactivity (scheduled every night)."""
    return scoring.scoring_nightly()
