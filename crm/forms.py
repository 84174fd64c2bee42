from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import Q

from problems.exceptions import InvalidFields

from . import selectors, services
from .models import Company, Contact, ContactImport, CustomField
from .services import COMPANY_FIELDS, CONTACT_FIELDS
from .services.tags import tag_names_clean

PREFIX = "custom_"


def custom_form_field(definition: CustomField) -> forms.Field:
    """The form field a custom field is typed into: the right widget for its type, and its
    label, requirement and a note when its values are stored encrypted."""
    kind = definition.type
    options: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": "Stored encrypted." if definition.sensitive else "",
    }
    field: forms.Field
    if kind == CustomField.Type.LONG_TEXT:
        field = forms.CharField(
            max_length=services.LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3}), **options
        )
    elif kind == CustomField.Type.NUMBER:
        field = forms.DecimalField(widget=forms.NumberInput(attrs={"step": "any"}), **options)
    elif kind == CustomField.Type.DATE:
        field = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **options)
    elif kind == CustomField.Type.EMAIL:
        field = forms.EmailField(**options)
    elif kind == CustomField.Type.PHONE:
        field = forms.CharField(
            max_length=50, widget=forms.TextInput(attrs={"type": "tel"}), **options
        )
    elif kind == CustomField.Type.URL:
        # Plain text with the web-address keyboard: a browser's own URL check would refuse
        # `linkedin.com/in/ada` with a tooltip, where the services add the https:// instead.
        field = forms.CharField(
            max_length=services.URL_MAX,
            widget=forms.TextInput(
                attrs={"inputmode": "url", "autocomplete": "url", "placeholder": "example.com"}
            ),
            **options,
        )
    elif kind == CustomField.Type.BOOLEAN:
        field = forms.BooleanField(**{**options, "required": False})
    elif kind == CustomField.Type.CHOICE:
        choices = [("", "—"), *((o, o) for o in definition.options)]
        field = forms.ChoiceField(choices=choices, **options)
    else:
        field = forms.CharField(max_length=services.TEXT_MAX, **options)
    return field


class CustomValuesModelForm(forms.ModelForm):
    """A record's form with a field per custom field of its entity (`custom_<key>`, after the
    record's own fields); their values are gathered into `cleaned_data["custom"]`, checked by
    the same rules as the API (`services.custom_values_clean`)."""

    entity: str
    instance: Contact | Company
    # Definitions a subclass was made for (see `with_custom_fields`); else loaded per form.
    preset_custom_fields: Sequence[CustomField] | None = None

    def __init__(
        self, *args: Any, custom_fields: Sequence[CustomField] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if custom_fields is None:
            custom_fields = self.preset_custom_fields
        if custom_fields is None:
            custom_fields = list(selectors.custom_field_list(entity=self.entity))
        self.custom_fields = list(custom_fields)
        stored = (
            selectors.custom_values_of(self.instance, self.custom_fields)
            if self.instance.pk
            else {}
        )
        for definition in self.custom_fields:
            name = PREFIX + definition.key
            self.fields[name] = custom_form_field(definition)
            if stored.get(definition.key) is not None:
                self.initial.setdefault(name, stored[definition.key])

    def own_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith(PREFIX)]

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[PREFIX + d.key] for d in self.custom_fields]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        values = {
            d.key: cleaned[PREFIX + d.key] for d in self.custom_fields if PREFIX + d.key in cleaned
        }
        try:
            services.custom_values_clean(
                definitions=self.custom_fields, values=values, creating=False
            )
        except InvalidFields as exc:
            self.add_custom_errors(exc)
        cleaned["custom"] = values
        return cleaned

    def add_custom_errors(self, exc: InvalidFields) -> None:
        """Show the services' field errors next to their fields: `custom.<key>` by the custom
        field, a record's own field (`domain`) by itself, others above the form."""
        for key, messages in exc.field_errors().items():
            name = PREFIX + key.removeprefix("custom.") if key.startswith("custom.") else key
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


def with_custom_fields(
    form: type[CustomValuesModelForm], definitions: Sequence[CustomField]
) -> type[CustomValuesModelForm]:
    """A subclass of `form` that declares the custom fields as class attributes, for code that
    lists a form class's fields before making a form (the Django admin)."""
    attrs: dict[str, Any] = {PREFIX + d.key: custom_form_field(d) for d in definitions}
    attrs["preset_custom_fields"] = tuple(definitions)
    return type(form.__name__, (form,), attrs)


class CompanyDomainMixin(forms.ModelForm):
    """The company's domain as the services store it (`services.company_domain_clean`), with
    the reason next to the field when it names no domain."""

    def clean_domain(self) -> str:
        try:
            return services.company_domain_clean(self.cleaned_data.get("domain"))
        except InvalidFields as exc:
            raise forms.ValidationError(exc.field_errors()["domain"]) from None


class TagsFormField(forms.CharField):
    """Tags typed as names separated by commas, checked as the API checks them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False,
            help_text="Separate tags with commas, such as vip, 2024.",
            widget=forms.TextInput(attrs={"autocomplete": "off"}),
            **kwargs,
        )

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value) or ""
        names = [name for name in text.split(",") if name.strip()]
        try:
            return tag_names_clean(names)
        except InvalidFields as exc:
            raise forms.ValidationError(
                [
                    f"“{names[int(key.rsplit('.', 1)[-1])].strip()[:60]}”: {note}"
                    if key.startswith("tags.")
                    else note
                    for key, notes in exc.errors.items()
                    for note in notes
                ]
            ) from None


class TaggedFormMixin(forms.ModelForm):
    """A `tags` field, showing the record's tags; saving gives the record exactly these."""

    tags = TagsFormField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            names = sorted((t.name for t in self.instance.tags.all()), key=str.casefold)
            self.initial.setdefault("tags", ", ".join(names))


class ContactForm(TaggedFormMixin, CustomValuesModelForm):
    entity = CustomField.Entity.CONTACT

    class Meta:
        model = Contact
        fields = CONTACT_FIELDS
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}),
            "address": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A contact whose company is in the trash keeps it when edited (it comes back with
        # the company's restore), rather than losing it to a choice the list lacks.
        company_id = getattr(self.instance, "company_id", None)
        field = self.fields.get("company")
        if company_id is not None and isinstance(field, forms.ModelChoiceField):
            trashed = Company.trashed.filter(pk=company_id).first()
            if trashed is not None:
                field.queryset = Company.with_trashed.filter(
                    Q(deleted_at__isnull=True) | Q(pk=company_id)
                )
                field.help_text = f"{trashed} is in the trash; restore it from the Trash page."


class CompanyForm(CompanyDomainMixin, TaggedFormMixin, CustomValuesModelForm):
    entity = CustomField.Entity.COMPANY

    class Meta:
        model = Company
        fields = COMPANY_FIELDS
        help_texts = {"domain": "Such as example.com; a web address is cut down to its domain."}
        widgets = {"domain": forms.TextInput(attrs={"inputmode": "url", "autocomplete": "url"})}


class CustomFieldForm(forms.Form):
    """A custom field definition; entity, key and type can only be chosen when creating."""

    entity = forms.ChoiceField(label="Used on", choices=CustomField.Entity.choices)
    label = forms.CharField(max_length=100, help_text="What people see, e.g. “Industry”.")
    key = forms.CharField(
        max_length=50,
        required=False,
        help_text=(
            "Name of the value in the API: lowercase letters, digits and underscores. Leave "
            "empty to make it from the label. It can't be changed later."
        ),
    )
    type = forms.ChoiceField(choices=CustomField.Type.choices)
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One option per line; a single choice needs at least one.",
    )
    sensitive = forms.BooleanField(
        required=False,
        label="Sensitive: store the values encrypted",
        help_text=(
            "Like e-mail addresses and birthdays. Changing this later re-encrypts or decrypts "
            "the values already stored."
        ),
    )
    required = forms.BooleanField(required=False, label="Required: new records must have a value")
    position = forms.IntegerField(
        min_value=0,
        max_value=services.POSITION_MAX,
        required=False,
        help_text="Order on forms and pages, smallest first. Empty: after the others.",
    )

    def __init__(self, *args: Any, field: CustomField | None = None, **kwargs: Any) -> None:
        if field is not None:
            kwargs["initial"] = {
                "entity": field.entity,
                "label": field.label,
                "key": field.key,
                "type": field.type,
                "options": "\n".join(field.options),
                "sensitive": field.sensitive,
                "required": field.required,
                "position": field.position,
            }
        super().__init__(*args, **kwargs)
        self.field = field
        if field is not None:
            for name in ("entity", "key", "type"):
                self.fields[name].disabled = True  # its value comes from `initial`
            self.fields["key"].help_text = "Name of the value in the API; fixed."

    def clean_options(self) -> list[str]:
        text: str = self.cleaned_data.get("options") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def changes(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments of the create or update service."""
        data = dict(self.cleaned_data)
        kind = self.field.type if self.field is not None else data.get("type")
        if kind != CustomField.Type.CHOICE:
            data.pop("options", None)  # hidden on the page unless the type is a single choice
        if self.field is not None:
            for name in ("entity", "key", "type"):
                data.pop(name, None)
            if data.get("position") is None:
                data.pop("position", None)
        return data


class ImportForm(forms.Form):
    """Upload of a CSV file of records; its columns are mapped on the page that follows. The
    hidden key makes a resubmitted form (a refresh, a double click) return the first
    import's result instead of importing twice."""

    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="UTF-8, with the column names in the first row; up to 5,000 rows.",
    )
    idempotency_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)


class ContactImportForm(ImportForm):
    """Upload of a CSV file of contacts, and what to do with those already there."""

    on_duplicate = forms.ChoiceField(
        label="When a contact already exists (same e-mail address, or same phone number)",
        choices=ContactImport.OnDuplicate.choices,
        initial=ContactImport.OnDuplicate.SKIP,
        widget=forms.RadioSelect,
    )
