import re
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .backends import account_for_login
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
        "service_account": "This is a service account: it can only call the ClearML API with its credentials "
        "and can never sign in to the web UI.",
    }

    # Set by the view when the address/login is over the failed sign-in limit: the form is
    # then refused without checking the password (no free guesses while limited).
    rate_limited = False

    def clean(self):
        if self.rate_limited:
            raise ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        account = account_for_login(self.cleaned_data.get("username") or "")
        if account is not None and account.is_service_account:
            raise ValidationError(self.error_messages["service_account"], code="service_account")
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
        help_text="One environment variable name per line (or separated by commas). Their values are shown as ********.",
    )


class CloudAccessForm(forms.ModelForm):
    secret = forms.CharField(
        label="Secret / SAS",
        required=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    # The secret is not a model field of this form: ModelForm would copy an empty one onto
    # the instance, and "empty" means "keep the stored secret" (the service decides).
    field_order = ["bucket", "key", "secret", "region", "endpoint"]

    class Meta:
        model = CloudAccess
        fields = ["bucket", "key", "region", "endpoint"]
        labels = {"key": "Key", "endpoint": "Host (Endpoint)"}
        help_texts = {"region": "The region for AWS S3.", "endpoint": "The host for non-AWS S3 servers."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.secret:
            self.fields["secret"].help_text = "A secret is stored. Leave empty to keep it."

    def clean_bucket(self) -> str:
        bucket = self.cleaned_data["bucket"].strip()
        if not BUCKET_RE.match(bucket):
            raise ValidationError("Use letters, digits, dots, hyphens and underscores only.")
        return bucket

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if any(char.isspace() for char in key):
            raise ValidationError("The key must not contain spaces.")
        return key

    def clean_region(self) -> str:
        region = self.cleaned_data["region"].strip()
        if region and not REGION_RE.match(region):
            raise ValidationError("Use letters, digits, hyphens and underscores only (e.g. eu-west-1).")
        return region

    def clean_endpoint(self) -> str:
        endpoint = self.cleaned_data["endpoint"].strip()
        if endpoint and not _is_endpoint(endpoint):
            raise ValidationError("Enter a host name (minio.example.com:9000) or an http(s):// URL.")
        return endpoint


BUCKET_RE = re.compile(r"^[A-Za-z0-9._-]+$")
REGION_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _is_endpoint(value: str) -> bool:
    if any(char.isspace() for char in value):
        return False
    parts = urlsplit(value if "://" in value else f"https://{value}")
    if parts.scheme not in {"http", "https"}:
        return False
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return bool(parts.hostname)
