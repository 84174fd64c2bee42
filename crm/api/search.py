"""GET /api/v1/search/: contacts, companies, leads and deals found by typed text, ranked and
grouped by type (crm.selectors.search)."""

from typing import Any

from django.db import connection
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.selectors.search import (
    MAX_LIMIT,
    MAX_QUERY_LENGTH,
    TYPES,
    SearchHit,
    clean_query,
    search,
)
from iam import authz
from iam.authz.guards import Authorized
from iam.permissions import IsTenantMember
from problems.openapi import problem_responses

_API_DETAIL = {
    "contacts": "contact-detail",
    "companies": "company-detail",
    "leads": "lead-detail",
    "deals": "deal-detail",
}


class SearchQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        max_length=MAX_QUERY_LENGTH,
        trim_whitespace=False,  # trimmed by the search itself, which finds nothing in spaces
        help_text="The text to look for: words of a name (in full, as prefixes, or with a typo), "
        "part of an e-mail address, or a whole phone number.",
    )
    types = serializers.CharField(
        required=False,
        help_text=f"Comma-separated types to search, of {', '.join(TYPES)} (default: all).",
    )
    limit = serializers.IntegerField(
        required=False,
        default=5,
        min_value=1,
        max_value=MAX_LIMIT,
        help_text=f"Most records of each type (1 to {MAX_LIMIT}; default 5).",
    )

    def validate_types(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(TYPES))
        if unknown or not names:
            raise serializers.ValidationError(
                f"Choose among {', '.join(TYPES)}, separated by commas (not {', '.join(unknown)})."
            )
        return names


class SearchHitSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=TYPES, help_text="What kind of record it is.")
    id = serializers.IntegerField()
    title = serializers.CharField(help_text="The record's name.")
    subtitle = serializers.CharField(
        help_text="A second line: a contact's title, a company's domain, a lead's company, "
        "a deal's amount; may be empty."
    )
    rank = serializers.FloatField(help_text="Higher is a better match; compare within a type.")
    url = serializers.CharField(
        allow_null=True, help_text="The record in this API (null if it has no endpoint)."
    )


class SearchResultsSerializer(serializers.Serializer[Any]):
    contacts = SearchHitSerializer(many=True, required=False)
    companies = SearchHitSerializer(many=True, required=False)
    leads = SearchHitSerializer(many=True, required=False)
    deals = SearchHitSerializer(many=True, required=False)


class SearchResponseSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        allow_blank=True,
        help_text="The text searched for, as trimmed (nothing is found for spaces).",
    )
    results = SearchResultsSerializer(
        help_text="The best records of each type searched, best first; one key per type."
    )


def _help(name: str) -> str:
    return str(SearchQuerySerializer().fields[name].help_text)


def _api_url(request: Request, hit: SearchHit) -> str | None:
    try:
        return request.build_absolute_uri(reverse(_API_DETAIL[hit.type], args=[hit.id]))
    except Exception:  # noqa: BLE001 - the type's endpoint is not routed (yet)
        return None


class SearchView(APIView):
    """One search across the organization's records."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
            raise RuntimeError("SearchView used outside its tenant's schema.")
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Search contacts, companies, leads and deals",
        description=(
            "Records whose name has every typed word, in full, as a prefix, or with one "
            "letter wrong, missing or added; accents and case never matter (`lodz` finds "
            "Łódź, `zoe` finds Zoë). Contacts and leads are also found by part of their "
            "e-mail address (`zoe.muller`, `example.com`: words of the address, never a "
            "substring) and by a whole phone number. Results are grouped by type, the best "
            "first within each; `limit` is per type. Only records you may view are found "
            "(your roles, ownership, teams and shares)."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH},
                required=True,
                description=_help("q"),
            ),
            OpenApiParameter(
                "types",
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "enum": list(TYPES)},
                },
                style="form",
                explode=False,
                description=_help("types"),
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 5},
                description=_help("limit"),
            ),
        ],
        responses={
            200: SearchResponseSerializer,
            **problem_responses(
                400, "`q` missing, empty or too long; an unknown type; a bad limit."
            ),
        },
        tags=["search"],
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = search(
            text=query.validated_data["q"],
            types=query.validated_data.get("types") or TYPES,
            limit=query.validated_data["limit"],
            principal=authz.principal_for_request(request._request),
        )
        results = {
            type_: [
                {
                    "type": hit.type,
                    "id": hit.id,
                    "title": hit.title,
                    "subtitle": hit.subtitle,
                    "rank": round(hit.rank, 4),
                    "url": _api_url(request, hit),
                }
                for hit in hits
            ]
            for type_, hits in found.items()
        }
        return Response({"q": clean_query(query.validated_data["q"]), "results": results})
