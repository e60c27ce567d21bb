from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Users, groups and access"

    def ready(self) -> None:
        from workspaces import hooks, revocation

        from . import api, impersonation, services

        # workspaces imports no feature app: what access does when a workspace or a membership
        # changes is registered here (see workspaces/hooks.py).
        hooks.workspace_created.connect(services.builtin_groups_create)
        hooks.membership_removed.connect(services.member_access_drop)
        hooks.membership_role_changed.connect(services.admin_rights_drop)
        revocation.grant_verdict_register(impersonation.grant_db_verdict)

        api.register_hooks()  # impersonation on auth.login

        # The ClearML server's objects (a linked workspace) and the gateway's enforcement.
        from . import answers, gateway, upstream
        from .kinds import upstream_kind_register

        for kind in upstream.kinds():
            upstream_kind_register(kind, linked=upstream.is_linked)
        gateway.register()
        answers.register()
