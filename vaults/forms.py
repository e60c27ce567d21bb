from django import forms

from access.models import UserGroup

from . import parsing, services
from .models import VaultFormat

PLACEHOLDER = 'sdk.aws.s3 {\n  key: "…"\n  secret: "…"\n}'


def _read_upload(upload) -> str:
    """An uploaded file's text; ValidationError when too large or not UTF-8 text."""
    limit = services.max_content_bytes()
    if upload.size is not None and upload.size > limit:
        raise forms.ValidationError(
            f"The file is {upload.size // 1024} KiB; a vault holds at most {limit // 1024} KiB.",
            code="too_large",
        )
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise forms.ValidationError(f"The file is larger than {limit // 1024} KiB.", code="too_large")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise forms.ValidationError("The file is not UTF-8 text.", code="encoding") from None


class VaultContentForm(forms.Form):
    """The member's own vault: format and text (the editor)."""

    format = forms.ChoiceField(choices=VaultFormat.choices, initial=VaultFormat.HOCON)
    content = forms.CharField(
        label="Configuration",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 16,
                "spellcheck": "false",
                "autocapitalize": "off",
                "data-code-editor": "",
                "placeholder": PLACEHOLDER,
            }
        ),
    )

    def clean_content(self) -> str:
        content = services.clean_content(self.cleaned_data.get("content"))
        # Checked before parsing, so a huge paste fails fast with a clear message.
        services.check_size(content, field=None)
        return content


class GroupVaultForm(VaultContentForm):
    """An administrator vault: name, group, format, text, or an imported file."""

    field_order = ["name", "group", "format", "content", "upload", "enabled"]

    name = forms.CharField(label="Vault name", max_length=services.MAX_NAME_LENGTH)
    group = forms.ModelChoiceField(
        label="User group", queryset=UserGroup.objects.none(), empty_label="Choose a group…"
    )
    upload = forms.FileField(
        label="Import a file",
        required=False,
        help_text="A clearml.conf (HOCON), .json or .yaml file; it replaces the text above.",
        widget=forms.ClearableFileInput(attrs={"accept": ".conf,.hocon,.json,.yaml,.yml,.txt,text/plain"}),
    )
    enabled = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args, workspace, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = UserGroup.objects.for_workspace(workspace).order_by("name")
        if editing:
            del self.fields["enabled"]  # the table's toggle does that

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload:
            try:
                cleaned["content"] = _read_upload(upload)
            except forms.ValidationError as exc:
                self.add_error("upload", exc)
                return cleaned
            # A known extension (.conf, .json, .yaml) says the format, whatever the selector said.
            guessed = parsing.guess_format(upload.name or "")
            if guessed:
                cleaned["format"] = guessed
        return cleaned


class ToggleForm(forms.Form):
    enabled = forms.BooleanField(required=False)
