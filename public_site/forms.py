from django import forms


class SignupForm(forms.Form):
    organization_name = forms.CharField(max_length=200, label="Organization name")
    slug = forms.CharField(
        max_length=40,
        label="Subdomain",
        help_text="Lowercase letters, digits and hyphens; 3 to 40 characters.",
    )
    full_name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Work e-mail")
    password = forms.CharField(widget=forms.PasswordInput, label="Password", strip=False)


class InvitationSignupForm(forms.Form):
    """The account of someone who accepts an invitation (the address is the invited one)."""

    full_name = forms.CharField(max_length=200, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, label="Password", strip=False)


class SignupFinishForm(forms.Form):
    """The last step of a sign-up link: the subdomain, which can be changed when it was
    taken since the request."""

    slug = forms.CharField(
        max_length=40,
        label="Subdomain",
        help_text="Lowercase letters, digits and hyphens; 3 to 40 characters.",
    )
