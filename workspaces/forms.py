import re

from django import forms
from django.contrib.auth.password_validation import validate_password

from accounts.models import User

from .credentials import MAX_LABEL_LENGTH
from .invitations import MAX_EMAIL_LENGTH, clean_email
from .models import Role
from .services import MAX_MEMBER_LIMIT, MAX_NAME_LENGTH

# One dialog invites this many addresses at the most (each is a row, an email and an audit event).
MAX_INVITES_AT_ONCE = 50
EMAIL_SEPARATORS = re.compile(r"[\s,;]+")


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
    """The portal's one invitation dialog (Workspace page and Users & Groups): several emails at
    once, each checked, and the role they join with (never above the inviter's own)."""

    emails = forms.CharField(
        label="Email addresses",
        max_length=MAX_INVITES_AT_ONCE * (MAX_EMAIL_LENGTH + 2),
        help_text="One or more, separated by commas or new lines.",
        widget=forms.Textarea(
            attrs={"rows": 3, "autocomplete": "off", "placeholder": "ada@example.com, grace@example.com"}
        ),
    )
    role = forms.TypedChoiceField(
        label="Role",
        coerce=int,
        choices=[(Role.MEMBER.value, "Member"), (Role.ADMIN.value, "Admin")],
        initial=Role.MEMBER.value,
        required=False,
        empty_value=Role.MEMBER.value,  # not chosen: a member
        help_text="Admins administer the workspace (they are in the Admins group).",
    )

    def __init__(self, *args, max_role: int = Role.ADMIN, **kwargs):
        super().__init__(*args, **kwargs)
        # Nobody invites above their own role.
        self.fields["role"].choices = [
            (value, label) for value, label in self.fields["role"].choices if value <= max_role
        ]

    def clean_emails(self) -> list[str]:
        """The distinct addresses, normalized; every malformed one is named in the error."""
        parts = [part for part in EMAIL_SEPARATORS.split(self.cleaned_data["emails"]) if part]
        if not parts:
            raise forms.ValidationError("Enter an email address.")
        if len(parts) > MAX_INVITES_AT_ONCE:
            raise forms.ValidationError(f"Invite at most {MAX_INVITES_AT_ONCE} addresses at once.")
        emails, errors = [], []
        for part in parts:
            try:
                email = clean_email(part)
            except forms.ValidationError:
                shown = part if len(part) <= 60 else part[:57] + "…"
                errors.append(f"“{shown}” is not a valid email address.")
                continue
            if email not in emails:
                emails.append(email)
        if errors:
            raise forms.ValidationError(errors)
        return emails


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


class AuditFilterForm(forms.Form):
    """The audit log's filters (the page and its CSV export read the same ones). A bad value is
    shown as an error and that filter ignored: the log still answers."""

    action = forms.CharField(required=False, max_length=64, strip=True)
    actor = forms.CharField(required=False, max_length=254, strip=True)
    q = forms.CharField(label="Object", required=False, max_length=255, strip=True)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> dict:
        """The valid filters, as `selectors.audit_event_list` takes them."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "action": data.get("action") or "",
            "actor": data.get("actor") or "",
            "query": data.get("q") or "",
            "since": data.get("since"),
            "until": data.get("until"),
        }


class MemberLimitForm(forms.Form):
    max_members = forms.IntegerField(
        label="Member limit",
        required=False,
        min_value=1,
        max_value=MAX_MEMBER_LIMIT,
        help_text="The most members, service accounts and pending invitations together. Empty: no limit.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "No limit"}),
    )
