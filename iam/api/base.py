"""The one tenant-aware base for API views: tenant, membership and permissions resolved once,
conditional requests (ETag, If-None-Match, If-Match) for every record, and Idempotency-Key
on every POST."""

import copy
import hashlib
import json
from typing import Any

from django.db import connection, models, transaction
from django.http import QueryDict
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from iam import authz
from iam.authz.guards import Authorized
from iam.permissions import IsTenantMember
from problems.exceptions import DomainError, PreconditionFailed

from . import idempotency

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Failed(Exception):
    """Hands a failed request's outcome to the transaction it ran in, which then rolls back."""


def _header_tags(value: str) -> set[str]:
    """The entity tags of an If-Match / If-None-Match header (weak ones compared by value)."""
    return {tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()}


class IdempotentPosts:
    """Idempotency-Key on every POST of an API view (mixed in before the DRF view class).

    A POST with the header runs in one transaction with its key claimed, and its successful
    response is kept under the key in that transaction (`idempotency`); a retry gets that
    response again and changes nothing. The schema documents the header, 409 and 422 on the
    POSTs of every view that has this mixin.
    """

    idempotent_posts = True
    _held: Any = None  # the transaction held open from the checks to the response, if any
    _claim: idempotency.Claim | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # The claim and the change it guards run in one transaction, opened after
        # authentication so a token's bookkeeping isn't held up.
        if request.method == "POST" and request.headers.get(idempotency.HEADER) is not None:
            tenant = request._request.tenant  # type: ignore[attr-defined]
            self._hold_transaction()
            self._claim = idempotency.claim(request, tenant_id=tenant.pk)

    def _hold_transaction(self) -> None:
        if self._held is None:
            self._held = transaction.atomic()
            self._held.__enter__()

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.Replay):
            return exc.response  # type: ignore[return-value]
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        return response

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        finalize = super().finalize_response  # type: ignore[misc]
        response = finalize(request, response, *args, **kwargs)
        held, self._held = self._held, None
        claim, self._claim = self._claim, None
        if held is None:
            return response
        try:
            if claim is not None and response.status_code < 500:
                idempotency.keep(claim, response)
        except DomainError as exc:  # the key service is away: keep nothing, change nothing
            held.__exit__(_Failed, _Failed(), None)
            answer: Response = finalize(request, self.handle_exception(exc))
            return answer
        except BaseException as exc:
            held.__exit__(type(exc), exc, exc.__traceback__)  # rolls back
            raise
        if response.status_code >= 500:
            held.__exit__(_Failed, _Failed(), None)  # rolls back
        else:
            held.__exit__(None, None, None)
        return response


class TenantViewSet(IdempotentPosts, viewsets.ModelViewSet):
    """A model viewset that only ever serves the current tenant's schema.

    It refuses to run unless the connection is on the request's tenant schema, so a
    queryset can never be evaluated against `public` or another tenant by accident.

    Every record answers with an `ETag` (a digest of its representation, as the detail URL
    gives it without query parameters); `If-None-Match` on a read answers 304 when it still
    matches, and `If-Match` on a change of the record (PUT, PATCH, DELETE, or a POST action
    on it) is checked with the row locked for the rest of the request: a stale one gets 412
    and nothing changes.

    POSTs take an `Idempotency-Key` (`IdempotentPosts`).

    Access goes through the decision point (`Authorized`): a subclass declares what it
    serves (`record_type = "deal"`, `admin_right = "people"`, `admin_right_for_writes`,
    `member_route`), and a record viewset's queryset is narrowed to the records its
    caller may see, in the query, before any lookup or list.
    """

    permission_classes = [IsTenantMember, Authorized]
    record_type: str | None = None

    def filter_queryset(self, queryset: Any) -> Any:
        queryset = super().filter_queryset(queryset)
        if self.record_type and isinstance(queryset, models.QuerySet):
            principal = authz.principal_for_request(self.request._request)
            queryset = authz.visible(queryset, principal, self.record_type)
        return queryset

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
            raise RuntimeError("TenantViewSet used outside its tenant's schema.")
        super().initial(request, *args, **kwargs)  # with the Idempotency-Key claimed
        if_match = request.headers.get("If-Match")
        if if_match and request.method in _UNSAFE and self._is_record_request():
            self._hold_transaction()  # with the row locked until the change is made
            self._precondition_check(_header_tags(if_match))

    def _is_record_request(self) -> bool:
        return (self.lookup_url_kwarg or self.lookup_field) in self.kwargs

    def _precondition_check(self, tags: set[str]) -> None:
        found = self.get_object()  # 404 (and the object permissions) first
        model: type[models.Model] = type(found)
        model._default_manager.select_for_update().filter(pk=found.pk).exists()
        current = self.etag_for(self.get_object())  # read again now that nobody can change it
        if "*" not in tags and current not in tags:
            raise PreconditionFailed(
                "The record was changed since the version you sent in If-Match; read it again "
                "and repeat the change on the current version."
            )

    def etag_for(self, instance: models.Model) -> str:
        """The strong entity tag of a record: a digest of its representation as its detail
        URL gives it, without query parameters (so `?expand=` doesn't change it)."""
        action, self.action = self.action, "retrieve"
        try:
            serializer_class = self.get_serializer_class()
        finally:
            self.action = action
        plain = copy.copy(self.request)
        plain._request = copy.copy(self.request._request)
        plain._request.GET = QueryDict()
        context = {**self.get_serializer_context(), "request": plain}
        data = serializer_class(instance, context=context).data
        body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        etag = self.etag_for(instance)
        if etag in _header_tags(request.headers.get("If-None-Match", "")):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        response = Response(self.get_serializer(instance).data, headers={"ETag": etag})
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().update(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            response["ETag"] = self.etag_for(self.get_object())
        return response
