"""Domain verification for single sign-on, resolved against a real local DNS server."""

import pytest
from django.test import Client

from iam.sso import dns as sso_dns
from iam.sso.exceptions import DomainInvalid, DomainNotVerified, DomainTaken
from iam.sso.models import SsoDomain
from iam.sso.services import domain_claim, domain_verify
from tests.conftest import host_of
from tests.support.sso import dns, local_dns  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _publish(dns, claimed: SsoDomain) -> None:  # noqa: F811
    dns.publish({sso_dns.record_name(claimed.domain): [sso_dns.record_value(claimed.token)]})


def test_a_domain_is_verified_once_its_txt_record_is_published(tenant_a, dns):  # noqa: F811
    claimed = domain_claim(tenant=tenant_a, domain="Example.COM")
    assert claimed.domain == "example.com" and not claimed.is_verified
    with pytest.raises(DomainNotVerified, match="No record named _mycrm-challenge.example.com"):
        domain_verify(domain=claimed)
    claimed.refresh_from_db()
    assert claimed.verified_at is None and claimed.checked_at is not None

    _publish(dns, claimed)
    domain_verify(domain=claimed)
    claimed.refresh_from_db()
    assert claimed.is_verified


def test_a_record_with_another_token_does_not_verify(tenant_a, dns):  # noqa: F811
    claimed = domain_claim(tenant=tenant_a, domain="example.com")
    dns.publish({sso_dns.record_name("example.com"): ["mycrm-verify=someone-elses-token"]})
    with pytest.raises(DomainNotVerified):
        domain_verify(domain=claimed)
    assert not SsoDomain.objects.get(pk=claimed.pk).is_verified


def test_a_domain_verified_by_one_organization_cant_be_verified_by_another(
    tenant_a,
    tenant_b,
    dns,  # noqa: F811
):
    theirs = domain_claim(tenant=tenant_b, domain="example.com")
    ours = domain_claim(tenant=tenant_a, domain="example.com")  # claiming is allowed...
    _publish(dns, theirs)
    domain_verify(domain=theirs)
    with pytest.raises(DomainTaken):  # ...but a claim after their verification is not
        domain_claim(tenant=tenant_a, domain="EXAMPLE.com.")
    _publish(dns, ours)
    with pytest.raises(DomainTaken):  # nor verifying the earlier claim
        domain_verify(domain=ours)
    assert not SsoDomain.objects.get(pk=ours.pk).is_verified


@pytest.mark.parametrize("bad", ["", "localhost", "not a domain", "a..b", "-x.com", "x" * 300])
def test_a_bad_domain_is_a_field_error(tenant_a, bad):
    with pytest.raises(DomainInvalid):
        domain_claim(tenant=tenant_a, domain=bad)


def test_an_admin_claims_and_verifies_a_domain_on_the_settings_page(tenant_a, owner_a, dns):  # noqa: F811
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    assert client.post("/settings/sso/domains/", {"domain": "nope"}).status_code == 400
    assert client.post("/settings/sso/domains/", {"domain": "acme.example"}).status_code == 302
    claimed = SsoDomain.objects.get(tenant=tenant_a, domain="acme.example")
    page = client.get("/settings/sso/").content.decode()
    assert "_mycrm-challenge.acme.example" in page and f"mycrm-verify={claimed.token}" in page

    response = client.post(f"/settings/sso/domains/{claimed.pk}/verify/", follow=True)
    assert (
        "has no TXT record" in response.content.decode() or "No record" in response.content.decode()
    )
    _publish(dns, claimed)
    response = client.post(f"/settings/sso/domains/{claimed.pk}/verify/", follow=True)
    assert "acme.example is verified." in response.content.decode()
    assert SsoDomain.objects.get(pk=claimed.pk).is_verified


def test_a_member_cannot_open_the_sso_settings(client_a):
    assert client_a.get("/settings/sso/").status_code == 403
    assert client_a.post("/settings/sso/domains/", {"domain": "x.example"}).status_code == 403
    assert not SsoDomain.objects.filter(domain="x.example").exists()


def test_an_admin_of_b_cannot_verify_or_remove_a_domain_of_a(tenant_a, tenant_b, owner_b, dns):  # noqa: F811
    claimed = domain_claim(tenant=tenant_a, domain="acme.example")
    _publish(dns, claimed)
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_b)
    assert client.post(f"/settings/sso/domains/{claimed.pk}/verify/").status_code == 404
    assert client.post(f"/settings/sso/domains/{claimed.pk}/delete/").status_code == 404
    assert SsoDomain.objects.filter(pk=claimed.pk, verified_at=None).exists()
