"""What an impersonated session carries: who acts, for whom, why and until when. The row in
`Impersonation` decides whether it still holds; this only names it."""

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Impersonation

SESSION_KEY = "iam.impersonation"
# Set on the request while an operator is signed in as the member, for sign-in receivers
# that treat an operator's entry apart from a member's own sign-in.
OPERATOR_SIGN_IN = "iam_operator_signing_in"


@dataclass(frozen=True)
class ImpersonationMark:
    id: int
    tenant_id: int
    operator_id: int
    operator_email: str
    member_id: int
    member_email: str
    reason: str
    expires_at: dt.datetime

    @classmethod
    def of(cls, row: Impersonation) -> "ImpersonationMark":
        return cls(
            id=row.pk,
            tenant_id=row.tenant_id,
            operator_id=row.operator_id,
            operator_email=row.operator.email,
            member_id=row.member_id,
            member_email=row.member.email,
            reason=row.reason,
            expires_at=row.expires_at,
        )

    def as_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        return data

    @classmethod
    def from_session(cls, data: Any) -> "ImpersonationMark | None":
        """The mark a session holds, or None when it holds something unreadable."""
        if not isinstance(data, dict):
            return None
        try:
            expires_at = parse_datetime(str(data["expires_at"]))
            if expires_at is None:
                return None
            return cls(
                id=int(data["id"]),
                tenant_id=int(data["tenant_id"]),
                operator_id=int(data["operator_id"]),
                operator_email=str(data["operator_email"]),
                member_id=int(data["member_id"]),
                member_email=str(data["member_email"]),
                reason=str(data["reason"]),
                expires_at=expires_at,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def minutes_left(self) -> int:
        return max(0, int((self.expires_at - timezone.now()).total_seconds() // 60))


def impersonation_of(request: HttpRequest) -> ImpersonationMark | None:
    """The impersonation this request is made in (set by ImpersonationMiddleware), if any."""
    mark: ImpersonationMark | None = getattr(request, "impersonation", None)
    return mark
