from decimal import Decimal

import factory

from crm.models import (
    Activity,
    Company,
    Contact,
    CustomField,
    Deal,
    Lead,
    Pipeline,
    Product,
    Tag,
)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Faker("company")
    domain = factory.Faker("domain_name")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    phone = factory.Faker("phone_number")


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomField

    entity = CustomField.Entity.CONTACT
    label = factory.Sequence(lambda n: f"Field {n}")
    key = factory.Sequence(lambda n: f"field_{n}")
    type = CustomField.Type.TEXT
    position = factory.Sequence(lambda n: n)


class ActivityFactory(factory.django.DjangoModelFactory):
    """A note about a new contact unless told otherwise."""

    class Meta:
        model = Activity

    kind = Activity.Kind.NOTE
    body = factory.Faker("sentence")
    contact = factory.SubFactory(ContactFactory)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    company_name = factory.Faker("company")
    source = Lead.Source.WEB


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = Decimal("100.00")
    currency = "USD"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")


def _default_pipeline() -> "Pipeline":
    return Pipeline.objects.get(is_default=True)


class DealFactory(factory.django.DjangoModelFactory):
    """A deal in the first stage of the default pipeline unless told otherwise."""

    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    pipeline = factory.LazyFunction(_default_pipeline)
    stage = factory.LazyAttribute(lambda o: o.pipeline.stages.order_by("position").first())
    amount = Decimal("1000.00")
    currency = "EUR"
    position = factory.Sequence(lambda n: n)
