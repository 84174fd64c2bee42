from rest_framework import serializers

from crm.models import Company, Contact
from crm.services import CONTACT_FIELDS
from problems.serializers import StrictModelSerializer


class CompanySerializer(StrictModelSerializer):
    class Meta:
        model = Company
        fields = ("id", "name", "domain", "phone", "owner_id", "created_at", "updated_at")
        read_only_fields = ("id", "owner_id", "created_at", "updated_at")


class ContactSerializer(StrictModelSerializer):
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Contact
        fields = ("id", *CONTACT_FIELDS, "owner_id", "created_at", "updated_at")
        read_only_fields = ("id", "owner_id", "created_at", "updated_at")
