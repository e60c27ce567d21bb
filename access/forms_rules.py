"""The ADD/EDIT RULE dialog and Explain access. Targets travel as hidden `targets` inputs:
`u:<user id>` or `g:<group id>`."""

import uuid

from django import forms

from settings_portal.inputs import parse_id

from .models import AccessRule

MAX_OBJECT_ID = 128


def object_id_of(value) -> object:
    """VALUE (a posted object id) in the type AccessRule.object_id stores: an int for portal-era
    integer ids, the text itself for upstream ids. None for "" and "all" (the whole type).
    ValidationError when it cannot be an id; whether the object exists is the service's check."""
    text = str(value or "").strip()
    if text in ("", "all"):
        return None
    field = AccessRule._meta.get_field("object_id")
    if field.get_internal_type() in {"CharField", "TextField"}:
        if len(text) > (field.max_length or MAX_OBJECT_ID) or not text.isprintable():
            raise forms.ValidationError("Pick an object from the list, or all.")
        return text
    object_id = parse_id(text)
    if object_id is None:
        raise forms.ValidationError("Pick an object from the list, or all.")
    return object_id


class AccessRuleForm(forms.Form):
    resource_type = forms.ChoiceField(label="Resource", choices=AccessRule.ResourceType.choices)
    object = forms.CharField(
        label="Object", required=False, help_text="Empty: every object of the resource type."
    )
    permission = forms.ChoiceField(
        label="Permission", choices=AccessRule.Permission.choices, widget=forms.RadioSelect
    )

    def clean_object(self):
        return object_id_of(self.cleaned_data.get("object"))


class ExplainForm(forms.Form):
    """Explain access: whose access (a user or service account: `u:<user id>`), to which object."""

    subject = forms.CharField(label="User or service account")
    resource_type = forms.ChoiceField(label="Resource", choices=AccessRule.ResourceType.choices)
    object = forms.CharField(label="Object", required=False)

    def clean_subject(self):
        user_ids, _ = targets_from([self.cleaned_data.get("subject", "")])
        if not user_ids:
            raise forms.ValidationError("Pick a user or service account from the list.")
        return user_ids[0]

    def clean_object(self):
        return object_id_of(self.cleaned_data.get("object"))


def targets_from(values) -> tuple[list[uuid.UUID], list[int]]:
    """(user ids, group ids) from posted `targets` values; malformed ones are dropped."""
    user_ids: list[uuid.UUID] = []
    group_ids: list[int] = []
    for raw in values:
        kind, _, value = str(raw).partition(":")
        if kind == "u":
            try:
                uid = uuid.UUID(value)
            except ValueError:
                continue
            if uid not in user_ids:
                user_ids.append(uid)
        elif kind == "g" and (group_id := parse_id(value)) is not None and group_id not in group_ids:
            group_ids.append(group_id)
    return user_ids, group_ids
