from django import forms

from .models import Company, Contact


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "company",
            "address",
            "birthday",
        )
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}),
            "address": forms.Textarea(attrs={"rows": 3}),
        }


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ("name", "domain", "phone")
