from rest_framework import serializers

from crm.models import Company, Contact


class CompanySerializer(serializers.ModelSerializer[Company]):
    class Meta:
        model = Company
        fields = ("id", "name", "domain", "phone", "owner_id", "created_at", "updated_at")
        read_only_fields = ("id", "owner_id", "created_at", "updated_at")


class ContactSerializer(serializers.ModelSerializer[Contact]):
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Contact
        fields = (
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "company",
            "owner_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "owner_id", "created_at", "updated_at")
