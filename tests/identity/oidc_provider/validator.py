from oauth2_provider.oauth2_validators import OAuth2Validator


class Validator(OAuth2Validator):
    """Email, email_verified (false for members of the `unverified` group), name and groups."""

    oidc_claim_scope = None  # every claim below goes into the ID token and userinfo

    def get_additional_claims(self, request):
        user = request.user
        groups = list(user.groups.values_list("name", flat=True))
        return {
            "email": user.email,
            "email_verified": "unverified" not in groups,
            "name": f"{user.first_name} {user.last_name}".strip(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": [g for g in groups if g != "unverified"],
        }

    def get_userinfo_claims(self, request):
        # Marks what only the user info endpoint says, so tests see which source the portal used.
        return {**super().get_userinfo_claims(request), "userinfo_only": "from-userinfo"}
