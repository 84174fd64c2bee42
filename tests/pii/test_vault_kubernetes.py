"""Kubernetes auth end to end: the real OpenBao's kubernetes auth method, MyCRM's Vault client,
and a stand-in Kubernetes API server answering OpenBao's TokenReviews."""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
from django.test import Client
from django_tenants.utils import tenant_context
from hvac.exceptions import VaultError
from pytest_django.fixtures import Settings

from crm.models import Contact
from iam.models import User
from pii import crypto, vault
from pii.exceptions import KeyServiceUnavailable
from pii.models import TenantKey
from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.k8s_api import KubernetesAPI

pytestmark = pytest.mark.django_db

NAMESPACE, SERVICE_ACCOUNT = "crm", "mycrm"
REVIEWER = ("openbao", "openbao-token-reviewer")
AUDIENCE = "openbao"
ROLE = "mycrm"
POLICY = "mycrm-pii-kubernetes"


def transit_policy(mount: str, key: str) -> str:
    """The Transit operations MyCRM performs on its wrapping keys (one per organization,
    `<key>-<id>`, and the formerly shared `<key>`), and nothing else; as in docs/operations.md."""
    rules = [(f"{mount}/keys", '["list"]')]
    for name in (key, f"{key}-*"):
        rules += [
            (f"{mount}/keys/{name}", '["create", "read", "update", "delete"]'),
            (f"{mount}/keys/{name}/config", '["update"]'),
            (f"{mount}/keys/{name}/rotate", '["update"]'),
            (f"{mount}/keys/{name}/trim", '["update"]'),
            (f"{mount}/datakey/plaintext/{name}", '["update"]'),
            (f"{mount}/encrypt/{name}", '["update"]'),
            (f"{mount}/decrypt/{name}", '["update"]'),
            (f"{mount}/rewrap/{name}", '["update"]'),
        ]
    return "\n".join(f'path "{path}" {{ capabilities = {caps} }}' for path, caps in rules)


@dataclass
class Cluster:
    """A Kubernetes API server, and OpenBao's kubernetes auth mount that trusts it."""

    api: KubernetesAPI
    root: hvac.Client
    mount: str
    token_file: Path

    def mount_token(self, jwt: str) -> None:
        """Write the pod's service-account token file, as the kubelet does (and re-does)."""
        self.token_file.write_text(jwt + "\n")

    def pod_token(self) -> str:
        return self.api.token(NAMESPACE, SERVICE_ACCOUNT, audiences=(AUDIENCE,))


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[Cluster]:
    """A kubernetes auth mount of its own on the devstack's OpenBao (removed afterwards), with a
    role for MyCRM's service account, and MyCRM configured to log in through it."""
    root = hvac.Client(url=settings.VAULT_ADDR, token=settings.VAULT_TOKEN)
    mount = f"kubernetes-{uuid.uuid4().hex[:8]}"
    with KubernetesAPI() as api:
        api.grant_token_review(*REVIEWER)
        root.sys.enable_auth_method("kubernetes", path=mount)
        try:
            root.auth.kubernetes.configure(
                kubernetes_host=api.url,
                kubernetes_ca_cert=api.ca_pem,
                token_reviewer_jwt=api.token(*REVIEWER),
                disable_local_ca_jwt=True,
                mount_point=mount,
            )
            root.sys.create_or_update_policy(
                name=POLICY,
                policy=transit_policy(settings.VAULT_TRANSIT_MOUNT, settings.PII_TRANSIT_KEY),
            )
            root.auth.kubernetes.create_role(
                ROLE,
                bound_service_account_names=[SERVICE_ACCOUNT],
                bound_service_account_namespaces=[NAMESPACE],
                policies=[POLICY],
                ttl="60s",
                audience=AUDIENCE,
                mount_point=mount,
            )
            token_file = tmp_path / "serviceaccount" / "token"
            token_file.parent.mkdir()
            settings.VAULT_AUTH_METHOD = "kubernetes"
            settings.VAULT_AUTH_MOUNT = mount
            settings.VAULT_ROLE = ROLE
            settings.VAULT_K8S_TOKEN_PATH = str(token_file)
            settings.VAULT_TOKEN = ""  # the root token of the devstack must play no part
            vault.forget_session()
            yield Cluster(api=api, root=root, mount=mount, token_file=token_file)
        finally:
            vault.forget_session()
            root.sys.disable_auth_method(mount)


def test_pod_logs_in_with_its_service_account_token_and_uses_transit(
    cluster: Cluster, tenant_a: Tenant, settings: Settings
) -> None:
    pod_token = cluster.pod_token()
    cluster.mount_token(pod_token)

    client = vault.client()
    info = client.auth.token.lookup_self()["data"]
    assert POLICY in info["policies"] and "root" not in info["policies"]
    assert info["meta"]["service_account_namespace"] == NAMESPACE
    assert info["meta"]["service_account_name"] == SERVICE_ACCOUNT
    assert [r["token"] for r in cluster.api.reviews] == [pod_token]  # OpenBao asked Kubernetes
    assert cluster.api.reviews[0]["audiences"] == [AUDIENCE]

    key = vault.data_key_generate(settings.PII_TRANSIT_KEY)
    assert vault.data_key_unwrap(settings.PII_TRANSIT_KEY, key.wrapped) == key.plaintext
    token = crypto.encrypt(tenant_id=tenant_a.pk, field="email", value="ana@acme.test")
    assert crypto.decrypt(tenant_id=tenant_a.pk, field="email", token=token) == "ana@acme.test"
    with pytest.raises(VaultError):  # the policy grants Transit, not the rest of Vault
        client.sys.list_mounted_secrets_engines()


def _forged(cluster: Cluster) -> str:
    """Same claims, signed by a key this cluster never had."""
    return KubernetesAPI().token(NAMESPACE, SERVICE_ACCOUNT, audiences=(AUDIENCE,))


def _of_deleted_account(cluster: Cluster) -> str:
    token = cluster.pod_token()
    cluster.api.delete_service_account(NAMESPACE, SERVICE_ACCOUNT)
    return token


@pytest.mark.parametrize("rejected_token", [_forged, _of_deleted_account])
def test_a_token_kubernetes_rejects_fails_closed_and_stores_nothing(
    cluster: Cluster,
    tenant_a: Tenant,
    member_a: User,
    rejected_token: Callable[[Cluster], str],
) -> None:
    jwt = rejected_token(cluster)
    cluster.mount_token(jwt)

    with pytest.raises(KeyServiceUnavailable, match="Vault login failed: permission denied"):
        vault.client()
    assert cluster.api.reviews[-1]["token"] == jwt  # refused by the TokenReview

    keys_before = TenantKey.objects.filter(tenant=tenant_a).count()
    browser = Client(HTTP_HOST=host_of(tenant_a))
    browser.force_login(member_a)
    response = browser.post(
        "/api/v1/contacts/",
        {"first_name": "Refused", "email": "refused@x.test"},
        content_type="application/json",
    )
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "key-service-unavailable"
    assert TenantKey.objects.filter(tenant=tenant_a).count() == keys_before
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Refused").exists()


def test_a_service_account_outside_the_bound_namespace_is_refused(cluster: Cluster) -> None:
    cluster.mount_token(cluster.api.token("default", SERVICE_ACCOUNT, audiences=(AUDIENCE,)))
    with pytest.raises(KeyServiceUnavailable, match="namespace not authorized"):
        vault.client()
    assert cluster.api.reviews == []  # the role binding refuses it before asking Kubernetes


def test_a_missing_token_file_is_a_clear_key_service_error(cluster: Cluster) -> None:
    with pytest.raises(KeyServiceUnavailable, match="Vault login failed: .*No such file"):
        vault.client()


def test_the_login_is_repeated_at_half_the_lease_with_the_rotated_token(
    cluster: Cluster, settings: Settings
) -> None:
    cluster.root.auth.kubernetes.create_role(
        ROLE,
        bound_service_account_names=[SERVICE_ACCOUNT],
        bound_service_account_namespaces=[NAMESPACE],
        policies=[POLICY],
        ttl="2s",
        audience=AUDIENCE,
        mount_point=cluster.mount,
    )
    first_jwt = cluster.pod_token()
    cluster.mount_token(first_jwt)
    first = vault.client().token
    assert vault.client().token == first  # within the first half: no new login

    rotated_jwt = cluster.pod_token()  # the kubelet refreshes the projected token
    cluster.mount_token(rotated_jwt)
    time.sleep(1.2)  # past half the lease: the next use logs in again
    second = vault.client().token
    assert second != first
    assert [r["token"] for r in cluster.api.reviews] == [first_jwt, rotated_jwt]

    time.sleep(2.3)  # both leases are over: only a fresh login keeps the process working
    with pytest.raises(VaultError):
        cluster.root.auth.token.lookup(second)
    key = vault.data_key_generate(settings.PII_TRANSIT_KEY)
    assert vault.data_key_unwrap(settings.PII_TRANSIT_KEY, key.wrapped) == key.plaintext
    assert len(cluster.api.reviews) == 3
