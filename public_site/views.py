"""The public site: landing page, sign-up, and the list of a user's workspaces."""

from urllib.parse import quote

from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit as rate_limited

from billing.models import Interval
from billing.pricing import pricing_currencies, pricing_offers, yearly_saving
from iam.exceptions import EmailTaken, HandoffInvalid, InvitationInvalid
from iam.models import User
from iam.selectors import membership_list_for_user
from iam.services import (
    handoff_start_url,
    handoff_url,
    invitation_accept,
    invitation_accept_as_new_user,
    invitation_open_get,
    membership_leave,
)
from problems.exceptions import DomainError
from problems.forms import add_field_errors
from tenants.exceptions import SlugTaken
from tenants.models import Tenant
from tenants.services import slug_is_available

from .exceptions import SignupLinkInvalid, SignupLinkUsed
from .forms import InvitationSignupForm, SignupFinishForm, SignupForm
from .selectors import signup_pending_get
from .services import signup_account, signup_finish, signup_start

_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "public_site/home.html")


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    """The plans, their prices per seat (monthly or yearly, in a currency they are sold in)
    and what each allows; rendered from the plans operators keep, so it is never out of date.
    An unknown currency or interval falls back to the default rather than failing."""
    currencies = pricing_currencies() or [settings.BILLING_DEFAULT_CURRENCY]
    currency = request.GET.get("currency", "").upper()
    if currency not in currencies:
        currency = currencies[0]
    interval = Interval.YEAR if request.GET.get("interval") == Interval.YEAR else Interval.MONTH
    return render(
        request,
        "public_site/pricing.html",
        {
            "offers": pricing_offers(currency=currency, interval=interval),
            "currency": currency,
            "currencies": currencies,
            "interval": interval,
            "saving": yearly_saving(currency=currency),
            "sales_email": f"sales@{settings.BASE_DOMAIN}",
        },
    )


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Ask for an organization: a valid form gets the same "check your inbox" page whether or
    not the address has an account (the mail says which); nothing exists until its link is
    followed."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and not ratelimit.consume(request, action="signup"):
        form.is_valid()
        form.add_error(None, "Too many sign-up attempts from your network; wait a minute.")
        return render(
            request,
            "public_site/signup.html",
            {"form": form, "base_domain": settings.BASE_DOMAIN},
            status=429,
        )
    if request.method == "POST" and form.is_valid():
        try:
            pending = signup_start(**form.cleaned_data)
        except DomainError as exc:
            add_field_errors(form, exc)
        else:
            return render(request, "public_site/signup_sent.html", {"pending": pending})
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "public_site/signup.html",
        {"form": form, "base_domain": settings.BASE_DOMAIN},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def signup_link(request: HttpRequest, token: str) -> HttpResponse:
    """A sign-up link from the mail: one button creates the organization (a GET creates
    nothing, as mail scanners open links) and hands the owner off to its workspace. The
    subdomain can be chosen again when it was taken since; an address with an account signs
    in first, as that account."""
    try:
        pending = signup_pending_get(raw=token)
    except SignupLinkInvalid as exc:
        return render(
            request, "public_site/signup_link_invalid.html", {"error": exc.detail}, status=400
        )
    user = request.user if request.user.is_authenticated else None
    if pending.is_completed:
        if user is not None and pending.tenant and pending.owner_id == user.pk:
            return redirect(handoff_start_url(tenant=pending.tenant))  # a second click
        return render(
            request, "public_site/signup_link_used.html", {"pending": pending}, status=409
        )
    account = signup_account(pending=pending)
    if account is not None and user is None:
        return redirect(f"{reverse('account_login')}?next={quote(request.path)}")
    context: dict[str, object] = {"pending": pending, "base_domain": settings.BASE_DOMAIN}
    if account is not None and user is not None and account.pk != user.pk:
        return render(request, "public_site/signup_link_other_account.html", context, status=403)
    form = SignupFinishForm(request.POST or None, initial={"slug": pending.slug})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                tenant, owner, is_new = signup_finish(
                    raw=token, user=user, slug=form.cleaned_data["slug"]
                )
            except SignupLinkUsed:
                return render(
                    request, "public_site/signup_link_used.html", {"pending": pending}, status=409
                )
            except DomainError as exc:
                if not add_field_errors(form, exc):
                    form.add_error(None, exc.detail)
                status = exc.status if exc.status >= 400 else 400
            else:
                if is_new:
                    login(request, owner, backend=_MODEL_BACKEND)
                return redirect(handoff_start_url(tenant=tenant))
    elif not _slug_free(pending.slug):
        form = SignupFinishForm({"slug": pending.slug})
        form.is_valid()
        form.add_error("slug", "This subdomain was taken since you asked; choose another.")
    context.update(form=form, account=account)
    return render(request, "public_site/signup_finish.html", context, status=status)


def _slug_free(slug: str) -> bool:
    try:
        return slug_is_available(slug)
    except DomainError:
        return False


SLUG_CHECK_RATE = "60/m"


@require_GET
@rate_limited(key="ip", rate=SLUG_CHECK_RATE, group="public_site.slug_check", block=False)
def slug_check(request: HttpRequest) -> HttpResponse:
    """htmx partial: whether the subdomain typed so far can be had (60 checks a minute per
    client address; the form still checks on submit)."""
    slug = request.GET.get("slug", "").strip().lower()
    ok, message = False, ""
    status = 200
    if getattr(request, "limited", False):
        message, status = "Too many checks from your network; wait a minute.", 429
    elif slug:
        try:
            ok = slug_is_available(slug)
            message = "Available" if ok else SlugTaken.title
        except DomainError as exc:
            message = exc.detail
    return render(
        request,
        "public_site/_slug_status.html",
        {"slug": slug, "ok": ok, "message": message, "base_domain": settings.BASE_DOMAIN},
        status=status,
    )


def too_many_requests(request: HttpRequest, exception: Exception) -> HttpResponse:
    """What a rate-limited view that blocks outright answers."""
    return HttpResponse("Too many requests; wait a minute.", status=429, content_type="text/plain")


@login_required
def workspaces(request: HttpRequest) -> HttpResponse:
    memberships = membership_list_for_user(user=request.user)  # type: ignore[arg-type]
    return render(request, "public_site/workspaces.html", {"memberships": memberships})


@login_required
def workspace_open(request: HttpRequest, slug: str) -> HttpResponse:
    """Send a member to their workspace, which asks back for a one-time sign-in link bound
    to this browser (iam.views.handoff_start)."""
    tenant = Tenant.objects.filter(slug=slug, memberships__user=request.user).first()
    if tenant is None:
        return render(request, "404.html", status=404)
    return redirect(handoff_start_url(tenant=tenant))


@login_required
@require_GET
def workspace_handoff(request: HttpRequest, slug: str) -> HttpResponse:
    """A one-time link that signs the user in on their workspace's host, bound to the
    browser whose nonce `?state=` names (set by that host's handoff_start)."""
    tenant = Tenant.objects.filter(slug=slug, memberships__user=request.user).first()
    if tenant is None:
        return render(request, "404.html", status=404)
    try:
        url = handoff_url(
            user=request.user,  # type: ignore[arg-type]
            tenant=tenant,
            state=request.GET.get("state", ""),
        )
    except HandoffInvalid as exc:
        return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=400)
    return redirect(url)


@login_required
@require_POST
def workspace_leave(request: HttpRequest, slug: str) -> HttpResponse:
    """Leave an organization; its last owner is told to hand ownership over first."""
    tenant = Tenant.objects.filter(slug=slug, memberships__user=request.user).first()
    if tenant is None:
        return render(request, "404.html", status=404)
    try:
        membership_leave(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"You left {tenant.name}.")
    return redirect("public_site:workspaces")


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation link: join the organization as the signed-in invited user, or create
    the invited person's account and join; then open the workspace."""
    try:
        found = invitation_open_get(raw=token)
    except InvitationInvalid as exc:
        return render(
            request, "public_site/invitation_invalid.html", {"error": exc.detail}, status=400
        )
    user = request.user if request.user.is_authenticated else None
    has_account = user is not None or User.objects.filter(email__iexact=found.email).exists()
    form = InvitationSignupForm(request.POST or None)
    error, status = "", 200
    if request.method == "POST":
        status = 400
        if not ratelimit.consume(request, action="signup"):
            error, status = "Too many attempts from your network; wait a minute.", 429
        else:
            try:
                if user is not None:
                    membership = invitation_accept(raw=token, user=user)
                elif not has_account and form.is_valid():
                    membership = invitation_accept_as_new_user(raw=token, **form.cleaned_data)
                    login(request, membership.user, backend=_MODEL_BACKEND)
                else:
                    membership = None
            except EmailTaken:
                error, has_account = "An account with this address exists; sign in first.", True
            except DomainError as exc:
                error = "" if add_field_errors(form, exc) else exc.detail
                status = exc.status
            else:
                if membership is not None:
                    return redirect(handoff_start_url(tenant=membership.tenant))
    return render(
        request,
        "public_site/invitation.html",
        {
            "invitation": found,
            "form": form,
            "error": error,
            "has_account": has_account,
            "is_invitee": user is not None and user.email.lower() == found.email.lower(),
        },
        status=status,
    )
