from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, CustomField
from crm.services import company_create, contact_create, custom_field_create
from iam.models import Role, User
from iam.services import membership_create, user_create, user_email_confirm
from pii.fields import blind_index_for
from tenants.models import Tenant
from tenants.services import provision_tenant, tenant_url

DEMO_PASSWORD = "demo-Passw0rd!"  # noqa: S105 - published demo login, development only

DEMO: dict[str, dict[str, Any]] = {
    "acme": {
        "name": "Acme Inc",
        "owner": ("ana@acme.test", "Ana Alvarez"),
        "companies": {
            "Initech": [("Peter", "Gibbons", "peter@initech.test", "+1 555 0100")],
            "Umbrella": [("Alice", "Abernathy", "alice@umbrella.test", "+1 555 0101")],
            "Hooli": [
                ("Gavin", "Belson", "gavin@hooli.test", "+1 555 0102"),
                ("Jared", "Dunn", "jared@hooli.test", "+1 555 0103"),
            ],
        },
        # Custom fields: (entity, label, type, sensitive, options); values by company name or
        # contact e-mail, given when the record is first created.
        "custom_fields": [
            ("company", "Industry", "choice", False, ["Software", "Pharmaceuticals", "Consulting"]),
            ("contact", "LinkedIn profile", "url", False, []),
            ("contact", "Passport number", "text", True, []),
        ],
        "custom": {
            "Initech": {"industry": "Software"},
            "Umbrella": {"industry": "Pharmaceuticals"},
            "Hooli": {"industry": "Software"},
            "peter@initech.test": {
                "linkedin_profile": "https://www.linkedin.com/in/peter-gibbons-demo",
                "passport_number": "X1234567",
            },
        },
    },
    "globex": {
        "name": "Globex Corporation",
        "owner": ("hank@globex.test", "Hank Scorpio"),
        "companies": {
            "Cypress Creek": [("Homer", "Simpson", "homer@cypress.test", "+1 555 0200")],
        },
    },
}


class Command(BaseCommand):
    help = "Create the demo organizations and logins (idempotent) and print where to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        for slug, spec in DEMO.items():
            self._seed(slug, spec)
        member = self._user("sam@acme.test", "Sam Member")
        membership_create(user=member, tenant=Tenant.objects.get(slug="acme"), role=Role.MEMBER)

        public = f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}"
        if settings.PUBLIC_PORT:
            public += f":{settings.PUBLIC_PORT}"
        self.stdout.write("\nMyCRM is starting.\n")
        self.stdout.write(f"  Public site and sign-up:  {public}/")
        for slug, spec in DEMO.items():
            url = tenant_url(Tenant.objects.get(slug=slug))
            email = spec["owner"][0]
            self.stdout.write(f"  {spec['name']:<20} {url}  ({email} / {DEMO_PASSWORD})")
        self.stdout.write(f"  A plain member of Acme:   sam@acme.test / {DEMO_PASSWORD}")
        acme = Tenant.objects.get(slug="acme")
        self.stdout.write(f"  API docs (per org):       {tenant_url(acme, '/api/docs/')}\n")

    def _user(self, email: str, name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            return user_create(
                email=email, password=DEMO_PASSWORD, full_name=name, email_confirmed=True
            )
        user_email_confirm(user=user)  # demo data from before addresses were confirmed
        return user

    @transaction.atomic
    def _seed(self, slug: str, spec: dict[str, Any]) -> None:
        owner = self._user(*spec["owner"])
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            tenant = provision_tenant(slug=slug, name=spec["name"], owner=owner)
        custom = spec.get("custom", {})
        with tenant_context(tenant):
            for entity, label, kind, sensitive, options in spec.get("custom_fields", []):
                if not CustomField.objects.filter(entity=entity, label=label).exists():
                    custom_field_create(
                        by=owner,
                        entity=entity,
                        label=label,
                        type=kind,
                        sensitive=sensitive,
                        options=options,
                    )
            for company_name, people in spec["companies"].items():
                company = Company.objects.filter(name=company_name).first()
                if company is None:
                    company = company_create(
                        by=owner, name=company_name, custom=custom.get(company_name, {})
                    )
                for first, last, email, phone in people:
                    index = blind_index_for(Contact, "email", email)
                    if not Contact.objects.filter(email_index=index).exists():
                        contact_create(
                            by=owner,
                            first_name=first,
                            last_name=last,
                            email=email,
                            phone=phone,
                            company=company,
                            custom=custom.get(email, {}),
                        )
