from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from .models import User


def account_for_login(login: str) -> User | None:
    """The account LOGIN names: its email address or its username, case-insensitively."""
    login = (login or "").strip()
    if not login:
        return None
    return User.objects.filter(Q(email__iexact=login) | Q(username__iexact=login)).first()


class EmailOrUsernameBackend(ModelBackend):
    """Sign in with the email address or the username, case-insensitively."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        login = (username or kwargs.get("email") or "").strip()
        if not login or password is None:
            return None
        user = account_for_login(login)
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user) -> bool:
        # Service accounts call the API only: no UI sign-in, and no session of theirs is honoured.
        return super().user_can_authenticate(user) and not getattr(user, "is_service_account", False)
