import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import (
    Activity,
    Company,
    Contact,
    CustomField,
    Deal,
    Lead,
    Pipeline,
    SavedView,
    ScoringModel,
)
from crm.services import company_create, contact_create, custom_field_create
from crm.services.activities import activity_create, task_complete
from crm.services.deals import deal_create, deal_move
from crm.services.leads import lead_convert, lead_create, lead_status_set
from crm.services.line_items import line_item_add
from crm.services.pipelines import pipeline_create
from crm.services.products import product_create
from crm.services.saved_views import saved_view_create
from crm.services.scoring import contacts_score_refresh, leads_score_refresh, scoring_model_train
from crm.services.tags import tags_set
from crm.services.trash import record_trash
from iam.models import Role, User
from iam.services import membership_create, user_create, user_email_confirm
from pii.fields import blind_index_for
from tenants.models import Tenant
from tenants.services import provision_tenant, tenant_url

# Last year's converted leads (half won, half lost) whose deals are named with this prefix.
PAST = "Past: "
HISTORY_SIZE = 120
_FIRST_NAMES = ["Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gia", "Hal", "Ines", "Jon", "Kai"]
_LAST_NAMES = ["Moss", "Reyes", "Okafor", "Lind", "Sato", "Kowalski", "Dubois", "Nair", "Haas"]
_COMPANY_WORDS = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum"]
_COMPANY_KINDS = ["Labs", "Group", "Systems", "Partners"]

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
        "tags": {"Hooli": ["enterprise", "priority"], "gavin@hooli.test": ["decision maker"]},
        # A duplicate of Peter to merge (Merge on his page), and a contact in the Trash:
        # (first, last, e-mail, company).
        "duplicates": [("Peter", "Gibbons", "p.gibbons@initech.test", "Initech")],
        "trashed": [("Milton", "Waddams", "milton@initech.test", "Initech")],
        # Calls and meetings with leads, by e-mail: (kind, subject).
        "lead_activities": {
            "monica@raviga.test": [
                ("call", "Intro call"),
                ("call", "Budget call"),
                ("meeting", "Demo for the finance team"),
            ],
            "erlich@aviato.test": [("call", "Met at the conference; called back")],
        },
        # Enough won and lost leads for a lead scoring model of Acme's own.
        "history": True,
        "products": [
            ("Seat licence (yearly)", "SEAT-Y", "480.00"),
            ("Onboarding package", "ONB-1", "2500.00"),
            ("Premium support", "SUP-P", "1200.00"),
        ],
        # (name, company, primary contact e-mail, stage name, lines [(sku, quantity, discount)],
        #  amount when no lines, days to expected close)
        "deals": [
            (
                "Initech rollout",
                "Initech",
                "peter@initech.test",
                "Proposal sent",
                [("SEAT-Y", "25", "10"), ("ONB-1", "1", "0")],
                None,
                21,
            ),
            (
                "Umbrella pilot",
                "Umbrella",
                "alice@umbrella.test",
                "Qualified",
                [("SEAT-Y", "5", "0")],
                None,
                35,
            ),
            (
                "Hooli enterprise",
                "Hooli",
                "gavin@hooli.test",
                "Negotiation",
                [("SEAT-Y", "120", "20"), ("SUP-P", "1", "0")],
                None,
                10,
            ),
            ("Hooli renewal 2025", "Hooli", "jared@hooli.test", "Won", [], "18000.00", -20),
        ],
        # A second pipeline, for partners.
        "partner_pipeline": ("Partnerships", ["Intro", "Evaluation", "Contract", "Won", "Lost"]),
        "partner_deals": [("Reseller deal with Umbrella", "Umbrella", "Evaluation", "9000.00")],
        # (first, last, e-mail, company, title, source, status)
        "leads": [
            ("Monica", "Hall", "monica@raviga.test", "Raviga", "VP Finance", "referral", "working"),
            ("Erlich", "Bachman", "erlich@aviato.test", "Aviato", "Founder", "event", "new"),
            ("Dinesh", "Chugtai", "dinesh@piedpiper.test", "Pied Piper", "Engineer", "web", "new"),
            (
                "Bertram",
                "Gilfoyle",
                "gilfoyle@piedpiper.test",
                "Pied Piper",
                "Architect",
                "cold",
                "disqualified",
            ),
            (
                "Laurie",
                "Bream",
                "laurie@raviga.test",
                "Raviga",
                "Managing Partner",
                "partner",
                "qualified",
            ),
        ],
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
            extras = [(p, False) for p in spec.get("duplicates", [])]
            extras += [(p, True) for p in spec.get("trashed", [])]
            for (first, last, email, company_name), trashed in extras:
                index = blind_index_for(Contact, "email", email)
                if not Contact.with_trashed.filter(email_index=index).exists():
                    contact = contact_create(
                        by=owner,
                        first_name=first,
                        last_name=last,
                        email=email,
                        company=Company.objects.get(name=company_name),
                    )
                    if trashed:
                        record_trash(record=contact, by=owner)
            if "deals" in spec and not Deal.objects.exists():
                self._seed_sales(spec, owner)
            if "deals" in spec and not SavedView.objects.filter(is_shared=True).exists():
                # Views the whole team picks from the lists' *Saved views* menu.
                saved_view_create(
                    by=owner,
                    records="deals",
                    name="Biggest deals first",
                    query={"ordering": "-amount"},
                    columns=["company", "stage", "amount", "close", "owner"],
                    is_shared=True,
                )
                saved_view_create(
                    by=owner,
                    records="companies",
                    name="Priority accounts",
                    query={"tag": "priority"},
                    is_shared=True,
                )
            if spec.get("history") and not Deal.objects.filter(name__startswith=PAST).exists():
                self._seed_history(owner)
            # Scores with their reasons; a model once the history allows one.
            if not ScoringModel.objects.exists():
                scoring_model_train()
            leads_score_refresh()
            contacts_score_refresh()

    def _seed_history(self, owner: User) -> None:
        """Last year's leads, converted into deals that were won or lost: the history a lead
        scoring model learns from. Won ones more often had a senior title, more calls and
        meetings, and came by referral; with enough overlap that no single detail decides."""
        default = Pipeline.objects.get(is_default=True)
        won = default.stages.get(is_won=True)
        lost = default.stages.get(is_lost=True)
        year_ago = timezone.now() - dt.timedelta(days=365)
        leads, deals, activities = [], [], []
        chance = random.Random(2025)  # noqa: S311 - the same demo every time, not a secret
        senior = ("VP Operations", "Head of IT", "Director of Sales", "Founder")
        others = ("Analyst", "Engineer", "Office Manager", "Intern")
        for i in range(HISTORY_SIZE):
            is_won = i % 2 == 0
            first = _FIRST_NAMES[i % len(_FIRST_NAMES)]
            last = _LAST_NAMES[(i * 7) % len(_LAST_NAMES)]
            company = f"{_COMPANY_WORDS[i % len(_COMPANY_WORDS)]} {_COMPANY_KINDS[i % 4]}"
            sources = ("referral", "partner", "event", "web", "cold", "advertising")
            if is_won:
                title = chance.choice(senior if chance.random() < 0.6 else others)
                source = chance.choices(sources, weights=(30, 15, 15, 20, 12, 8))[0]
                calls, meetings = chance.randint(0, 4), int(chance.random() < 0.4)
            else:
                title = chance.choice(senior if chance.random() < 0.35 else others)
                source = chance.choices(sources, weights=(12, 8, 15, 25, 25, 15))[0]
                calls, meetings = chance.randint(0, 3), int(chance.random() < 0.2)
            closed = year_ago + dt.timedelta(days=i * 2)
            deal = Deal(
                name=f"{PAST}{company}",
                amount=Decimal(1000 + (i % 9) * 1500),
                currency="USD",
                pipeline=default,
                stage=won if is_won else lost,
                position=i,
                stage_entered_at=closed,
                closed_at=closed,
                lost_reason="" if is_won else "Went with a competitor",
                owner_id=owner.pk,
            )
            deals.append(deal)
            leads.append(
                Lead(
                    first_name=first,
                    last_name=last,
                    company_name=company,
                    title=title,
                    source=source,
                    status=Lead.Status.QUALIFIED,
                    owner_id=owner.pk,
                    converted_at=closed - dt.timedelta(days=30),
                    converted_deal=deal,
                )
            )
            activities += [(len(leads) - 1, Activity.Kind.CALL)] * calls
            activities += [(len(leads) - 1, Activity.Kind.MEETING)] * meetings
        Deal.objects.bulk_create(deals)
        for lead in leads:
            lead.converted_deal_id = lead.converted_deal.pk  # type: ignore[union-attr]
        Lead.objects.bulk_create(leads)
        # Last year's, on every page too: made then, so today's leads and deals list first.
        Deal.objects.filter(pk__in=[d.pk for d in deals]).update(
            created_at=F("closed_at") - dt.timedelta(days=60)
        )
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(
            created_at=F("converted_at") - dt.timedelta(days=20)
        )
        Activity.objects.bulk_create(
            Activity(
                kind=kind,
                lead=leads[index],
                subject="Call" if kind == Activity.Kind.CALL else "Meeting",
                direction=Activity.Direction.OUTBOUND if kind == Activity.Kind.CALL else "",
                starts_at=None if kind == Activity.Kind.CALL else leads[index].converted_at,
                created_by_id=owner.pk,
            )
            for index, kind in activities
        )

    def _seed_sales(self, spec: dict[str, Any], owner: User) -> None:
        """Tags, products, deals on two pipelines with their lines and history, leads (one
        converted), and activities: what a sales team's first week looks like."""
        by_email = {c.email: c for c in Contact.objects.all()}
        for target, names in spec["tags"].items():
            record = by_email.get(target) or Company.objects.get(name=target)
            tags_set(record=record, names=names, by=owner)
        products = {
            sku: product_create(by=owner, name=name, sku=sku, price=Decimal(price), currency="USD")
            for name, sku, price in spec["products"]
        }
        default = Pipeline.objects.get(is_default=True)
        stages = {stage.name: stage for stage in default.stages.all()}
        first_stage = min(stages.values(), key=lambda stage: stage.position)
        today = timezone.localdate()
        for name, company, email, stage, lines, amount, days in spec["deals"]:
            contact = by_email[email]
            deal = deal_create(
                by=owner,
                name=name,
                company=Company.objects.get(name=company),
                pipeline=default,
                stage=first_stage,
                amount=Decimal(amount or "0"),
                currency="USD",
                expected_close_on=today + dt.timedelta(days=days),
                contacts=[contact],
                primary_contact=contact,
            )
            for sku, quantity, discount in lines:
                line_item_add(
                    deal=deal,
                    by=owner,
                    product=products[sku],
                    quantity=Decimal(quantity),
                    discount_percent=Decimal(discount),
                )
            if stage != first_stage.name:
                deal_move(deal=deal, stage=stages[stage], position=None, by=owner)
            activity_create(
                by=owner,
                kind=Activity.Kind.CALL,
                deal=deal,
                subject=f"Discovery call with {contact.first_name}",
                direction=Activity.Direction.OUTBOUND,
                outcome="Interested",
                duration_seconds=1500,
            )
        partner_name, partner_stages = spec["partner_pipeline"]
        partners = pipeline_create(by=owner, name=partner_name, stages=partner_stages)
        partner_stage = {stage.name: stage for stage in partners.stages.all()}
        for name, company, stage, amount in spec["partner_deals"]:
            deal_create(
                by=owner,
                name=name,
                company=Company.objects.get(name=company),
                pipeline=partners,
                stage=partner_stage[stage],
                amount=Decimal(amount),
                currency="USD",
            )
        now = timezone.now()
        peter = by_email["peter@initech.test"]
        activity_create(
            by=owner,
            kind=Activity.Kind.MEETING,
            contact=peter,
            subject="Rollout planning",
            starts_at=now + dt.timedelta(days=2),
            ends_at=now + dt.timedelta(days=2, hours=1),
            attendees=[peter],
        )
        activity_create(
            by=owner,
            kind=Activity.Kind.TASK,
            contact=peter,
            subject="Send the signed order form",
            due_at=now - dt.timedelta(days=1),
        )
        activity_create(
            by=owner,
            kind=Activity.Kind.TASK,
            contact=by_email["alice@umbrella.test"],
            subject="Follow up on the pilot",
            due_at=now + dt.timedelta(hours=2),
        )
        done = activity_create(
            by=owner,
            kind=Activity.Kind.TASK,
            company=Company.objects.get(name="Hooli"),
            subject="Prepare the security questionnaire",
            due_at=now - dt.timedelta(days=3),
        )
        task_complete(activity=done, by=owner)
        activity_create(
            by=owner,
            kind=Activity.Kind.NOTE,
            company=Company.objects.get(name="Umbrella"),
            body="Procurement needs three quotes; we are one of them.",
        )
        for first, last, email, company, title, source, status in spec["leads"]:
            lead = lead_create(
                by=owner,
                first_name=first,
                last_name=last,
                email=email,
                company_name=company,
                title=title,
                source=source,
            )
            for kind, subject in spec.get("lead_activities", {}).get(email, []):
                activity_create(
                    by=owner,
                    kind=kind,
                    lead=lead,
                    subject=subject,
                    direction=Activity.Direction.OUTBOUND if kind == Activity.Kind.CALL else "",
                    starts_at=now - dt.timedelta(days=1) if kind == Activity.Kind.MEETING else None,
                )
            if status == "disqualified":
                lead_status_set(lead=lead, by=owner, status=status, reason="No budget this year")
            elif status != "new":
                lead_status_set(lead=lead, by=owner, status=status)
        qualified = Lead.objects.get(
            email_index=blind_index_for(Lead, "email", "laurie@raviga.test")
        )
        lead_convert(
            lead=qualified,
            by=owner,
            create_deal=True,
            deal_name="Raviga portfolio pilot",
            amount="12000.00",
            currency="USD",
        )
