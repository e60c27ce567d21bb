"""The ADD/EDIT RULE dialog. Targets travel as hidden `targets` inputs: `u:<user id>` or `g:<group id>`."""

import uuid

from django import forms

from settings_portal.inputs import parse_id

from .models import AccessRule


class AccessRuleForm(forms.Form):
    resource_type = forms.ChoiceField(label="Resource", choices=AccessRule.ResourceType.choices)
    object = forms.CharField(
        label="Object", required=False, help_text="Empty: every object of the resource type."
    )
    permission = forms.ChoiceField(
        label="Permission", choices=AccessRule.Permission.choices, widget=forms.RadioSelect
    )

    def clean_object(self):
        value = (self.cleaned_data.get("object") or "").strip()
        if value in ("", "all"):
            return None
        object_id = parse_id(value)
        if object_id is None:
            raise forms.ValidationError("Pick an object from the list, or all.")
        return object_id


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
