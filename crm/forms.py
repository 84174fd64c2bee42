from django import forms

from .models import Company, Contact
from .services import COMPANY_FIELDS, CONTACT_FIELDS


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = CONTACT_FIELDS
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}),
            "address": forms.Textarea(attrs={"rows": 3}),
        }


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = COMPANY_FIELDS
