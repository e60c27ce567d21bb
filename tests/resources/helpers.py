"""Helpers for the resources tests."""

from resources import draft as drafts
from resources.models import Pool, Profile
from resources.services.editor import draft_save, editor_edit
from resources.services.provisioning import draft_provision


def provision_config(workspace, actor, *, pools, profiles, links):
    """Provision POOLS {name: capacity}, PROFILES {name: allotment}, LINKS [(name, profile, pool)] in order."""

    def build(d):
        for name, capacity in pools.items():
            d = drafts.pool_add(d, name=name, capacity=capacity)
        for name, allotment in profiles.items():
            d = drafts.profile_add(d, name=name, allotment=allotment)
        keys = {item["name"]: item["key"] for kind in ("pools", "profiles") for item in d[kind]}
        for name, profile, pool in links:
            d = drafts.link_add(d, profile=keys[profile], pool=keys[pool], name=name)
        return d

    editor_edit(workspace=workspace, actor=actor, edit=build)
    draft_save(workspace=workspace, actor=actor)
    result = draft_provision(workspace=workspace, actor=actor)
    return (
        {p.name: p for p in Pool.objects.for_workspace(workspace)},
        {p.name: p for p in Profile.objects.for_workspace(workspace)},
        result,
    )
