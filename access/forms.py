import uuid

from django import forms


class ServiceAccountForm(forms.Form):
    name = forms.CharField(label="Name", max_length=64, strip=True)
    allow_impersonation = forms.BooleanField(
        label="Allow impersonation",
        required=False,
        help_text="Agents using these credentials can run each task as its owner, with the owner's vaults "
        "and access (clearml-agent --use-owner-token).",
    )


class ServiceAccountEditForm(ServiceAccountForm):
    groups = forms.TypedMultipleChoiceField(
        label="User groups",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Every service account is in Users.",
    )

    def __init__(self, *args, group_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = list(group_choices)


class GroupForm(forms.Form):
    """A group's name, description and members (user ids, kept as hidden inputs between steps)."""

    name = forms.CharField(label="Name", max_length=100, strip=True)
    description = forms.CharField(
        label="Description", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    members = forms.TypedMultipleChoiceField(
        label="Members", required=False, coerce=uuid.UUID, widget=forms.MultipleHiddenInput
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id is accepted here; the service checks every one is a member of the workspace.
        self.fields["members"].valid_value = lambda value: True
