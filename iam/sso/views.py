"""Pages of single sign-on: the settings page (domains, connections, test, switch on, SSO
required), and on the organization's host the sign-in through its identity provider.

A sign-in keeps its flow in the browser's session under a fresh state: the connection, the
organization, the nonce and PKCE verifier (OIDC) or the request id (SAML), and whether it
is a test. The callback finds it again only in the same browser and only on the same
organization's host; anything else is refused before the provider's answer is read."""

import functools
import time
from typing import Any, cast

import structlog
from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import perform_login
from authlib.common.security import generate_token
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from iam.authz.guards import open_route, requires
from problems.exceptions import DomainError
from problems.forms import add_field_errors
from tenants.models import Tenant
from tenants.services import tenant_url

from . import dns, oidc, saml
from .exceptions import SsoFailed, SsoNotAllowed
from .forms import ConnectionForm, DomainForm, EmailFirstForm
from .models import SsoConnection, SsoDomain
from .receivers import SSO_METHOD
from .selectors import connection_for_email, connection_list, domain_list
from .services import (
    Identity,
    assertion_use,
    connection_client_secret,
    connection_delete,
    connection_enable,
    connection_mark_tested,
    connection_save,
    domain_claim,
    domain_delete,
    domain_is_verified,
    domain_verify,
    group_mappings_parse,
    group_mappings_text,
    sso_required,
    sso_required_set,
    sso_sign_in,
    sso_sign_in_failed,
)

log = structlog.get_logger(__name__)

_FLOWS = "iam_sso_flows"
SESSION_MARK = "iam_sso_connection"  # the connection a session signed in through
FLOW_MAX_AGE = 15 * 60
_FLOWS_KEPT = 5
_EMAIL_KEYS = ("email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3")
_NAME_KEYS = ("name", "displayName", "cn", "urn:oid:2.16.840.1.113730.3.1.241")
_GROUP_KEYS = (
    "groups",
    "memberOf",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
)


def _tenant(request: HttpRequest) -> Tenant:
    return cast(Tenant, request.tenant)  # type: ignore[attr-defined]


# Settings ----------------------------------------------------------------------------------


@requires("admin.sso")
@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    return _settings_render(request, tenant, DomainForm())


def _settings_render(
    request: HttpRequest, tenant: Tenant, domain_form: DomainForm, status: int = 200
) -> HttpResponse:
    domains = [
        (d, dns.record_name(d.domain), dns.record_value(d.token))
        for d in domain_list(tenant=tenant)
    ]
    return render(
        request,
        "iam_sso/settings.html",
        {
            "domain_form": domain_form,
            "domains": domains,
            "connections": connection_list(tenant=tenant),
            "sso_required": sso_required(tenant=tenant),
        },
        status=status,
    )


@requires("admin.sso")
@require_POST
def domain_add(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            claimed = domain_claim(tenant=tenant, domain=form.cleaned_data["domain"])
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
            return _settings_render(request, tenant, form, status=exc.status)
        messages.success(
            request, f"Publish the TXT record below for {claimed.domain}, then press Verify."
        )
        return redirect("iam_sso:settings")
    return _settings_render(request, tenant, form, status=400)


@requires("admin.sso")
@require_POST
def domain_verify_view(request: HttpRequest, pk: int) -> HttpResponse:
    domain = get_object_or_404(SsoDomain, pk=pk, tenant=_tenant(request))
    try:
        domain_verify(domain=domain)
    except DomainError as exc:
        messages.error(request, f"{domain.domain}: {exc.detail}")
    else:
        messages.success(request, f"{domain.domain} is verified.")
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_POST
def domain_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    domain = get_object_or_404(SsoDomain, pk=pk, tenant=_tenant(request))
    domain_delete(domain=domain)
    messages.success(request, f"{domain.domain} was removed.")
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (no pk) or change a connection."""
    tenant = _tenant(request)
    connection = get_object_or_404(SsoConnection, pk=pk, tenant=tenant) if pk else None
    initial: dict[str, Any] = {"jit_enabled": True, "protocol": request.GET.get("protocol")}
    if connection is not None:
        initial = {
            "name": connection.name,
            "protocol": connection.protocol,
            "oidc_issuer": connection.oidc_issuer,
            "oidc_client_id": connection.oidc_client_id,
            "saml_metadata_url": connection.saml_metadata_url,
            "jit_enabled": connection.jit_enabled,
            "default_role": connection.default_role,
            "default_custom_role": connection.default_custom_role,
            "group_mappings": group_mappings_text(connection=connection),
        }
    form = ConnectionForm(
        request.POST or None, request.FILES or None, tenant=tenant, initial=initial
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = connection_save(
                    tenant=tenant,
                    connection=connection,
                    name=data["name"],
                    protocol=data["protocol"],
                    oidc_issuer=data["oidc_issuer"],
                    oidc_metadata=data["oidc_metadata"],
                    oidc_client_id=data["oidc_client_id"],
                    oidc_client_secret=data["oidc_client_secret"],
                    saml_metadata_url=data["saml_metadata_url"],
                    saml_metadata_xml=data["saml_metadata_file"],
                    jit_enabled=data["jit_enabled"],
                    default_role=data["default_role"],
                    default_custom_role=data["default_custom_role"],
                    group_mappings=group_mappings_parse(tenant=tenant, text=data["group_mappings"]),
                )
            except DomainError as exc:
                if not add_field_errors(form, exc):
                    form.add_error(None, exc.detail)
                status = exc.status
            else:
                messages.success(request, f"{saved.name} is saved. Test it before switching it on.")
                return redirect("iam_sso:settings")
    sp: dict[str, str] = {}
    if connection is not None:
        sp = {
            "oidc_redirect_uri": tenant_url(tenant, reverse("iam_sso:oidc_callback")),
            "saml_entity_id": saml.sp_entity_id(tenant=tenant, connection_id=connection.pk),
            "saml_acs": saml.sp_acs_url(tenant=tenant, connection_id=connection.pk),
        }
    return render(
        request,
        "iam_sso/connection_form.html",
        {
            "form": form,
            "connection": connection,
            "sp": sp,
            "oidc_redirect_uri": tenant_url(tenant, reverse("iam_sso:oidc_callback")),
        },
        status=status,
    )


@requires("admin.sso")
@require_POST
def connection_enable_view(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(SsoConnection, pk=pk, tenant=_tenant(request))
    enabled = request.POST.get("enabled") == "1"
    try:
        connection_enable(connection=connection, enabled=enabled)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"{connection.name} is {'on' if enabled else 'off'}.")
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_POST
def connection_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(SsoConnection, pk=pk, tenant=_tenant(request))
    connection_delete(connection=connection)
    messages.success(request, f"{connection.name} was removed.")
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_POST
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the real sign-in with the provider, in test mode: the callback shows what the
    provider sent and marks the connection tested, signing nobody in."""
    connection = get_object_or_404(SsoConnection, pk=pk, tenant=_tenant(request))
    return _flow_start(request, connection, test=True)


@requires("admin.sso")
@require_POST
def sso_required_view(request: HttpRequest) -> HttpResponse:
    required = request.POST.get("required") == "1"
    try:
        sso_required_set(tenant=_tenant(request), required=required)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            "Members now sign in only through single sign-on; owners keep their password."
            if required
            else "Members may sign in with a password again.",
        )
    return redirect("iam_sso:settings")


# Sign-in ---------------------------------------------------------------------------------


@open_route("sign-in through the organization's identity provider")
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """The organization's single sign-on page: its connections, and an e-mail-first form
    that sends an address of a verified domain to its identity provider."""
    tenant = _tenant(request)
    form = EmailFirstForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            connection = connection_for_email(tenant=tenant, email=form.cleaned_data["email"])
            if connection is not None:
                return _flow_start(request, connection, test=False)
            form.add_error(
                "email",
                "Single sign-on is not set up for this address here; sign in with your "
                "password instead.",
            )
    return render(
        request,
        "iam_sso/sign_in.html",
        {"form": form, "connections": connection_list(tenant=tenant, enabled_only=True)},
        status=status,
    )


@open_route("starts a sign-in at the organization's identity provider")
@require_GET
def start(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(SsoConnection, pk=pk, tenant=_tenant(request), is_enabled=True)
    return _flow_start(request, connection, test=False)


def _flow_start(request: HttpRequest, connection: SsoConnection, *, test: bool) -> HttpResponse:
    tenant = _tenant(request)
    flow: dict[str, Any] = {
        "tenant": tenant.pk,
        "connection": connection.pk,
        "test": test,
        "by": request.user.pk if test else None,
        "at": time.time(),
    }
    if connection.protocol == SsoConnection.Protocol.OIDC:
        begun = oidc.authorization_start(
            metadata=connection.oidc_metadata,
            client_id=connection.oidc_client_id,
            redirect_uri=tenant_url(tenant, reverse("iam_sso:oidc_callback")),
        )
        flow.update(nonce=begun.nonce, code_verifier=begun.code_verifier)
        state, url = begun.state, begun.url
    else:
        state = generate_token(32)
        saml_begun = saml.authn_request(
            tenant=tenant,
            connection_id=connection.pk,
            idp_metadata_xml=connection.saml_metadata_xml,
            relay_state=state,
        )
        flow["request_id"] = saml_begun.request_id
        url = saml_begun.url
    flows = dict(request.session.get(_FLOWS, {}))
    flows[state] = flow
    # Only the latest few: a browser that starts many sign-ins keeps a bounded session.
    request.session[_FLOWS] = dict(sorted(flows.items(), key=lambda kv: kv[1]["at"])[-_FLOWS_KEPT:])
    log.info("sso.flow_started", tenant=tenant.slug, connection=connection.pk, test=test)
    return redirect(url)


def _flow_take(
    request: HttpRequest, state: str, protocol: str
) -> tuple[dict[str, Any], SsoConnection]:
    """The flow `state` names in this browser's session, used up, for this organization's
    host; SsoFailed for an unknown or stale state, or one of another organization."""
    flows = dict(request.session.get(_FLOWS, {}))
    flow = flows.pop(state, None) if state else None
    request.session[_FLOWS] = flows
    tenant = _tenant(request)
    if flow is None:
        raise SsoFailed("This sign-in did not start in this browser, or was used already.")
    if time.time() - float(flow["at"]) > FLOW_MAX_AGE:
        raise SsoFailed("This sign-in took too long; start it again.")
    if flow["tenant"] != tenant.pk:
        raise SsoFailed("This sign-in was started for another organization.")
    connection = (
        SsoConnection.objects.filter(pk=flow["connection"], tenant=tenant, protocol=protocol)
        .select_related("tenant")
        .first()
    )
    if connection is None:
        raise SsoFailed("This sign-in's connection no longer exists.")
    request.sso_connection = connection  # type: ignore[attr-defined]
    if flow["test"]:
        if flow["by"] != request.user.pk:
            raise SsoFailed("A test sign-in finishes in the session of the admin who began it.")
    elif not connection.is_enabled:
        raise SsoFailed("This connection is switched off.")
    return flow, connection


def _audited(view: Any) -> Any:
    """Record every refused sign-in in the organization's audit log, then refuse it."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return cast(HttpResponse, view(request, *args, **kwargs))
        except (SsoFailed, SsoNotAllowed) as exc:
            sso_sign_in_failed(
                tenant=_tenant(request),
                connection=getattr(request, "sso_connection", None),
                reason=exc.detail,
                email=getattr(request, "sso_email", ""),
            )
            log.warning("sso.sign_in_refused", tenant=_tenant(request).slug, reason=exc.detail)
            raise

    return wrapped


@open_route("the OpenID provider's redirect back; checked against the flow's state")
@require_GET
@_audited
def oidc_callback(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    if request.GET.get("error"):
        said = request.GET.get("error_description") or request.GET["error"]
        raise SsoFailed(f"The identity provider refused: {said}.")
    flow, connection = _flow_take(
        request, request.GET.get("state", ""), SsoConnection.Protocol.OIDC
    )
    code = request.GET.get("code", "")
    if not code:
        raise SsoFailed("The identity provider sent no code.")
    found = oidc.code_exchange(
        metadata=connection.oidc_metadata,
        client_id=connection.oidc_client_id,
        client_secret=connection_client_secret(connection=connection),
        redirect_uri=tenant_url(tenant, reverse("iam_sso:oidc_callback")),
        code=code,
        code_verifier=flow["code_verifier"],
        nonce=flow["nonce"],
    )
    claims = found.claims
    if claims.get("email_verified") is False:
        raise SsoFailed("The identity provider says this e-mail address is not confirmed.")
    identity = Identity(
        subject=found.subject,
        email=_first(claims, ("email",)),
        full_name=_first(claims, ("name",)),
        groups=_groups(claims),
        raw={k: v for k, v in claims.items() if k not in ("nonce", "at_hash", "c_hash")},
    )
    return _finish(request, connection, identity, test=flow["test"])


@csrf_exempt  # posted by the identity provider's page; the flow's RelayState binds it
@open_route("the SAML identity provider's POST; checked by signature and the flow's state")
@require_POST
@_audited
def saml_acs(request: HttpRequest, pk: int) -> HttpResponse:
    relay_state = request.POST.get("RelayState", "")
    if _FLOWS not in request.session and request.POST.get("_resent") != "1":
        # A cross-site POST carries no SameSite=Lax session cookie: post the same fields
        # again from this host, and the browser sends it.
        return render(
            request,
            "iam_sso/saml_repost.html",
            {"fields": request.POST.items(), "action": request.path},
        )
    flow, connection = _flow_take(request, relay_state, SsoConnection.Protocol.SAML)
    if connection.pk != pk:
        raise SsoFailed("This response was posted to another connection's address.")
    found = saml.response_parse(
        tenant=connection.tenant,
        connection_id=connection.pk,
        idp_metadata_xml=connection.saml_metadata_xml,
        saml_response=request.POST.get("SAMLResponse", ""),
        request_id=flow["request_id"],
    )
    attributes = found.attributes
    email = _first(attributes, _EMAIL_KEYS) or (found.subject if "@" in found.subject else "")
    identity = Identity(
        subject=found.subject,
        email=email,
        full_name=_first(attributes, _NAME_KEYS),
        groups=_groups(attributes),
        raw={"NameID": found.subject, **attributes},
    )
    assertion_use(assertion_id=found.assertion_id, expires_at=found.expires_at)
    return _finish(request, connection, identity, test=flow["test"])


@open_route("the service provider's public SAML metadata")
@require_GET
def saml_metadata(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(
        SsoConnection, pk=pk, tenant=_tenant(request), protocol=SsoConnection.Protocol.SAML
    )
    xml = saml.sp_metadata(tenant=connection.tenant, connection_id=connection.pk)
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


def _finish(
    request: HttpRequest, connection: SsoConnection, identity: Identity, *, test: bool
) -> HttpResponse:
    tenant = _tenant(request)
    request.sso_email = identity.email  # type: ignore[attr-defined]
    if test:
        connection_mark_tested(connection=connection)
        return render(
            request,
            "iam_sso/test_result.html",
            {
                "connection": connection,
                "identity": identity,
                "raw": sorted(identity.raw.items()),
                "email_verified_domain": bool(identity.email)
                and domain_is_verified(tenant=tenant, email=identity.email),
            },
        )
    membership = sso_sign_in(connection=connection, identity=identity)
    user = membership.user
    if request.user.is_authenticated and request.user.pk != user.pk:
        logout(request)  # another person's session here ends before this one begins
    # The identity provider is the first step; allauth's sign-in stages then ask for the
    # person's second factor when they have one, as after a password, and sign them in.
    record_authentication(request, user, SSO_METHOD, connection=connection.pk)
    request.session[SESSION_MARK] = connection.pk
    return perform_login(request, user, redirect_url="/", email=identity.email)


def _first(values: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = values.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value:
            return str(value)
    return ""


def _groups(values: dict[str, Any]) -> tuple[str, ...]:
    for key in _GROUP_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
    return ()
