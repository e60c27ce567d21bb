"""Input parsing of the resources pages; the rules themselves live in draft.py and the services
(PolicyForm asks resources.services.policies.policy_clean, the one source of the policy rules)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from access.models import UserGroup

from .models import Profile, Queue
from .services.policies import QueueSpec, policy_clean

AMOUNT_ATTRS = {"inputmode": "decimal", "autocomplete": "off"}


class PoolForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    capacity = forms.CharField(
        max_length=20,
        label="Number of resources",
        help_text="How many resources (e.g. GPUs) the pool has.",
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
    )
    description = forms.CharField(
        max_length=500, required=False, label="Description", widget=forms.Textarea(attrs={"rows": 2})
    )


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    allotment = forms.CharField(
        max_length=20,
        label="Resource allotment",
        help_text="Resources each job of this profile uses; fractions such as 0.5 or 0.125 are allowed.",
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
    )


class ConnectForm(forms.Form):
    """Connect Profile: the connection's name (and, without drag and drop, which profile and pool)."""

    profile = forms.ChoiceField(label="Profile")
    pool = forms.ChoiceField(label="Pool")
    name = forms.CharField(max_length=100, label="Connection name", help_text="Shown on the profile card.")

    def __init__(self, *args, draft, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["profile"].choices = [(p["key"], p["name"]) for p in draft["profiles"]]
        self.fields["pool"].choices = [(p["key"], p["name"]) for p in draft["pools"]]


class PolicyForm(forms.Form):
    """A policy; one checkbox and queue name per provisioned profile (fields profile_<pk>, queue_<pk>)."""

    name = forms.CharField(max_length=100, label="Name")
    group = forms.ModelChoiceField(queryset=UserGroup.objects.none(), label="User group", empty_label=None)
    reservation = forms.CharField(
        max_length=20,
        label="Reservation",
        initial="0",
        help_text="Resources this policy's jobs are served first with.",
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
    )
    limit = forms.CharField(
        max_length=20,
        label="Limit",
        help_text="The most resources this policy's jobs may use at once.",
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
    )
    description = forms.CharField(max_length=500, required=False, label="Description")

    def __init__(self, *args, workspace, policy=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace, self.policy = workspace, policy
        self.fields["group"].queryset = UserGroup.objects.for_workspace(workspace).order_by("name")
        self.profiles = list(Profile.objects.for_workspace(workspace).order_by("name"))
        current = {q.profile_id: q for q in Queue.objects.filter(policy=policy)} if policy else {}
        for profile in self.profiles:
            queue = current.get(profile.pk)
            self.fields[f"profile_{profile.pk}"] = forms.BooleanField(
                required=False, label=profile.name, initial=queue is not None
            )
            self.fields[f"queue_{profile.pk}"] = forms.CharField(
                required=False,
                max_length=100,
                label=f"Queue name for {profile.name}",
                initial=queue.name if queue else "",
            )

    def clean(self):
        """The policy rules (unique names, reservation within the limit, queue names, profiles that
        fit the limit) as the service applies them: policy_clean, so both always agree."""
        cleaned = super().clean()
        if self.errors:  # the rules need every field
            return cleaned
        try:
            values = policy_clean(
                workspace=self.workspace,
                policy=self.policy,
                name=cleaned["name"],
                group=cleaned["group"],
                reservation=cleaned["reservation"],
                limit=cleaned["limit"],
                queues=[QueueSpec(profile=profile, name=name) for profile, name in self.chosen_queues()],
                description=cleaned.get("description", ""),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            return cleaned
        cleaned.update(values)  # the name stripped, the amounts as Decimals, the queues as QueueSpecs
        return cleaned

    def profile_rows(self):
        return [
            {"profile": p, "use": self[f"profile_{p.pk}"], "queue": self[f"queue_{p.pk}"]}
            for p in self.profiles
        ]

    def chosen_queues(self) -> list[tuple[Profile, str]]:
        """(profile, queue name) for the ticked profiles; a blank name becomes '<policy>-<profile>'."""
        chosen = []
        for profile in self.profiles:
            if self.cleaned_data.get(f"profile_{profile.pk}"):
                name = (self.cleaned_data.get(f"queue_{profile.pk}") or "").strip()
                if not name:
                    name = (
                        slugify(f"{self.cleaned_data.get('name', '')} {profile.name}")[:100]
                        or f"queue-{profile.pk}"
                    )
                chosen.append((profile, name))
        return chosen


class EnqueueForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), label="Queue", empty_label=None)
    name = forms.CharField(max_length=255, required=False, label="Job name", help_text="Optional.")

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = (
            Queue.objects.for_workspace(workspace).select_related("policy", "profile").order_by("name")
        )
        self.fields["queue"].label_from_instance = lambda q: f"{q.name} ({q.policy.name} · {q.profile.name})"
