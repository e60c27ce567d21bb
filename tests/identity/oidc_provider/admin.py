"""Commands for the test provider's database (run in its own settings):

python -m tests.identity.oidc_provider.admin migrate
python -m tests.identity.oidc_provider.admin app CLIENT_ID SECRET REDIRECT_URI...
python -m tests.identity.oidc_provider.admin user USERNAME EMAIL PASSWORD FIRST LAST GROUP,GROUP
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.identity.oidc_provider.settings")

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "migrate":
        call_command("migrate", verbosity=0)
    elif command == "app":
        client_id, secret, *uris = args
        Application.objects.filter(client_id=client_id).delete()
        Application.objects.create(
            name=client_id,
            client_id=client_id,
            client_secret=secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(uris),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
    elif command == "user":
        username, email, password, first, last, groups = args
        user, _ = User.objects.get_or_create(username=username)
        user.email, user.first_name, user.last_name = email, first, last
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in groups.split(",") if g])
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
