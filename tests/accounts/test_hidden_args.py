"""Configuration → Hide specific container arguments: the list and its Edit dialog."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import DEFAULT_HIDDEN_CONTAINER_ARGS, UserPreferences
from accounts.services import MAX_HIDDEN_ARGS, parse_hidden_args
from tests.factories import UserFactory
from workspaces.models import AuditEvent

URL = reverse("accounts:hidden-args")
CONFIGURATION = reverse("accounts:configuration")
HX = {"HX-Request": "true"}


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def hidden_of(user):
    return UserPreferences.objects.get(user=user).hidden_container_args


def test_defaults_are_the_four_of_the_spec(user):
    assert hidden_of(user) == [
        "CLEARML_API_SECRET_KEY",
        "CLEARML_AGENT_GIT_PASS",
        "AWS_SECRET_ACCESS_KEY",
        "AZURE_STORAGE_KEY",
    ]
    assert hidden_of(user) == DEFAULT_HIDDEN_CONTAINER_ARGS


def test_defaults_are_a_copy_per_user(user):
    prefs = UserPreferences.objects.get(user=user)
    prefs.hidden_container_args.append("X")
    assert "X" not in DEFAULT_HIDDEN_CONTAINER_ARGS
    assert UserFactory().preferences.hidden_container_args == DEFAULT_HIDDEN_CONTAINER_ARGS


def test_configuration_shows_the_list_and_an_edit_button(signed_in):
    html = signed_in.get(CONFIGURATION).content.decode()
    section = re.search(r'<div id="hidden-args".*?</ul>', html, re.S).group(0)
    for name in DEFAULT_HIDDEN_CONTAINER_ARGS:
        assert f"<code>{name}</code>" in section
    assert f'href="{URL}"' in section and f'hx-get="{URL}"' in section
    assert 'hx-target="#modal-content"' in section


def test_dialog_fragment_has_the_names_one_per_line(signed_in):
    response = signed_in.get(URL, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="hidden-args-form"' in html and 'id="modal-title"' in html
    assert "\n".join(DEFAULT_HIDDEN_CONTAINER_ARGS) in html
    assert 'hx-target="#hidden-args"' in html


def test_dialog_without_javascript_is_a_page(signed_in):
    html = signed_in.get(URL).content.decode()
    assert "<html" in html and f'action="{URL}"' in html and "csrfmiddlewaretoken" in html


def test_save_with_htmx_returns_the_updated_list_and_audits(signed_in, user):
    response = signed_in.post(
        URL, {"names": "MY_TOKEN\nAWS_SECRET_ACCESS_KEY, OTHER_SECRET\n\nMY_TOKEN"}, headers=HX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="hidden-args"' in html
    assert "<code>MY_TOKEN</code>" in html and "<code>OTHER_SECRET</code>" in html
    assert "<code>AZURE_STORAGE_KEY</code>" not in html
    assert hidden_of(user) == ["MY_TOKEN", "AWS_SECRET_ACCESS_KEY", "OTHER_SECRET"]
    event = AuditEvent.objects.get(action="preferences.hidden_args")
    assert event.actor == user
    assert event.before == {"hidden_container_args": DEFAULT_HIDDEN_CONTAINER_ARGS}
    assert event.after == {"hidden_container_args": ["MY_TOKEN", "AWS_SECRET_ACCESS_KEY", "OTHER_SECRET"]}


def test_save_without_javascript_redirects(signed_in, user):
    response = signed_in.post(URL, {"names": "ONLY_THIS"}, follow=True)
    assert response.redirect_chain == [(CONFIGURATION, 302)]
    assert "Hidden container arguments saved." in response.content.decode()
    assert hidden_of(user) == ["ONLY_THIS"]


def test_empty_list_is_allowed(signed_in, user):
    html = signed_in.post(URL, {"names": ""}, headers=HX).content.decode()
    assert hidden_of(user) == []
    assert "None: every value is shown." in html


def test_unchanged_list_writes_no_audit_row(signed_in, user):
    signed_in.post(URL, {"names": "\n".join(DEFAULT_HIDDEN_CONTAINER_ARGS)}, headers=HX)
    assert not AuditEvent.objects.filter(action="preferences.hidden_args").exists()


@pytest.mark.parametrize(
    "names,error",
    [
        ("GOOD\n1BAD", "“1BAD” is not an environment variable name."),
        ("bad name!", "“bad name!” is not an environment variable name."),
        ("WITH-DASH", "is not an environment variable name"),
        ("A=B", "is not an environment variable name"),
        ("$HOME", "is not an environment variable name"),
        ("<script>alert(1)</script>", "is not an environment variable name"),
        ("X" * 129, "is not an environment variable name"),
        ("\n".join(f"N{n}" for n in range(MAX_HIDDEN_ARGS + 1)), f"At most {MAX_HIDDEN_ARGS} names."),
        ("A" * 10_001, "at most 10000 characters"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_refused_in_the_dialog_with_no_change(signed_in, user, names, error, htmx):
    response = signed_in.post(URL, {"names": names}, headers=HX if htmx else {})
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert "<script>alert" not in html
    assert 'aria-invalid="true"' in html
    if htmx:
        # Errors go back into the dialog, whatever the form's own target.
        assert response["HX-Retarget"] == "#modal-content"
        assert response["HX-Reswap"] == "innerHTML"
        assert "<html" not in html and 'id="hidden-args-form"' in html
    else:
        assert "<html" in html
    assert hidden_of(user) == DEFAULT_HIDDEN_CONTAINER_ARGS
    assert not AuditEvent.objects.filter(action="preferences.hidden_args").exists()


def test_parse_accepts_lines_and_commas_and_drops_duplicates():
    assert parse_hidden_args(" A, B\r\n\tC \nA ,, _D1 ") == ["A", "B", "C", "_D1"]
    assert parse_hidden_args("") == []


@pytest.mark.parametrize("entry", ["bad name!", "bad name", "TWO\tNAMES", "A B"])
def test_an_entry_with_a_space_is_refused_whole_never_split(entry):
    with pytest.raises(ValidationError) as caught:
        parse_hidden_args(f"GOOD\n{entry}")
    assert caught.value.message_dict["names"] == [
        f"“{entry}” is not an environment variable name. A name has letters, digits and "
        "underscores, no spaces, and does not start with a digit."
    ]


def test_every_bad_entry_is_named(signed_in, user):
    response = signed_in.post(URL, {"names": "bad name!\nOK\n1X, a-b, c d, e f"}, headers=HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "“bad name!”, “1X”, “a-b” and 2 more are not environment variable names." in html
    assert hidden_of(user) == DEFAULT_HIDDEN_CONTAINER_ARGS


def test_dialog_needs_sign_in(client, user):
    assert client.get(URL).status_code == 302
    assert client.post(URL, {"names": "X"}).status_code == 302
    assert hidden_of(user) == DEFAULT_HIDDEN_CONTAINER_ARGS


def test_redaction_follows_the_saved_list(signed_in, user):
    from accounts.redaction import MASK, redact_for

    signed_in.post(URL, {"names": "MY_TOKEN"})
    user.refresh_from_db()
    assert (
        redact_for(user, "MY_TOKEN=abc AWS_SECRET_ACCESS_KEY=def")
        == f"MY_TOKEN={MASK} AWS_SECRET_ACCESS_KEY=def"
    )
