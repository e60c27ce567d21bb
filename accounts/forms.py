from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .models import CloudAccess


class SignInForm(AuthenticationForm):
    username = forms.CharField(
        label="Email or username",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email/username and password do not match an account.",
        "rate_limited": "Too many failed sign-ins. Wait a few minutes and try again.",
    }

    # Set by the view when the address/login is over the failed sign-in limit: the form is
    # then refused without checking the password (no free guesses while limited).
    rate_limited = False

    def clean(self):
        if self.rate_limited:
            raise ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        return super().clean()


class UsernameForm(forms.Form):
    username = forms.CharField(
        label="Username",
        max_length=64,
        strip=True,
        error_messages={"required": "Enter a username.", "max_length": "Use at most 64 characters."},
    )


class PreferenceToggleForm(forms.Form):
    value = forms.BooleanField(required=False)


class HiddenArgsForm(forms.Form):
    names = forms.CharField(
        label="Hidden container arguments",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="One environment variable name per line. Their values are shown as ********.",
    )


class CloudAccessForm(forms.ModelForm):
    secret = forms.CharField(
        label="Secret / SAS",
        required=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = CloudAccess
        fields = ["bucket", "key", "secret", "region", "endpoint"]
        labels = {"key": "Key", "endpoint": "Host (Endpoint)"}
        help_texts = {"region": "The region for AWS S3.", "endpoint": "The host for non-AWS S3 servers."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.secret:
            self.fields["secret"].help_text = "A secret is stored. Leave empty to keep it."
