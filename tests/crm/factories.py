import factory

from crm.models import Activity, Company, Contact, CustomField, Lead


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
