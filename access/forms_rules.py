"""The ADD/EDIT RULE dialog. Targets travel as hidden `targets` inputs: `u:<user id>` or `g:<group id>`."""

import uuid

from django import forms

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
        if not value.isdigit():
            raise forms.ValidationError("Pick an object from the list, or all.")
        return int(value)


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
        elif kind == "g" and value.isdigit() and int(value) not in group_ids:
            group_ids.append(int(value))
    return user_ids, group_ids
