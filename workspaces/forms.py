from django import forms
from django.contrib.auth.password_validation import validate_password

from accounts.models import User

from .credentials import MAX_LABEL_LENGTH
from .invitations import MAX_EMAIL_LENGTH
from .services import MAX_NAME_LENGTH


class CredentialLabelForm(forms.Form):
    label = forms.CharField(
        label="Label",
        required=False,
        max_length=MAX_LABEL_LENGTH,
        strip=True,
        help_text="Optional: say where these credentials are used, e.g. the machine's name.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. laptop, ci-runner"}),
    )


class WorkspaceNameForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=MAX_NAME_LENGTH, strip=True)


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=MAX_EMAIL_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.com"}),
    )


class InvitationSignupForm(forms.Form):
    """Sign-up through an invitation: the email is the invitation's, not an input."""

    username = forms.CharField(label="Username", max_length=64, strip=True)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Confirm password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            candidate = User(email=self.email, username=cleaned.get("username") or "")
            try:
                validate_password(password1, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
