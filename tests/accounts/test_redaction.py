"""`redact()`: the values of hidden container arguments become ******** in every text shape."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import DEFAULT_HIDDEN_CONTAINER_ARGS
from accounts.redaction import MASK, redact, redact_for
from accounts.services import hidden_args_update
from tests.factories import UserFactory

SECRET = "s3cr3t-VALUE/with+chars=="


@pytest.mark.parametrize(
    "text,expected",
    [
        # Shell and docker
        ("AWS_SECRET_ACCESS_KEY=" + SECRET, "AWS_SECRET_ACCESS_KEY=" + MASK),
        ("export AWS_SECRET_ACCESS_KEY=" + SECRET, "export AWS_SECRET_ACCESS_KEY=" + MASK),
        (
            f"docker run -e AWS_SECRET_ACCESS_KEY={SECRET} -e HOME=/root img",
            f"docker run -e AWS_SECRET_ACCESS_KEY={MASK} -e HOME=/root img",
        ),
        (f"--env AZURE_STORAGE_KEY={SECRET} --rm", f"--env AZURE_STORAGE_KEY={MASK} --rm"),
        (f"--env=AZURE_STORAGE_KEY={SECRET}", f"--env=AZURE_STORAGE_KEY={MASK}"),
        (f'-e AZURE_STORAGE_KEY="{SECRET} with spaces"', f'-e AZURE_STORAGE_KEY="{MASK}"'),
        (f"-e AZURE_STORAGE_KEY='{SECRET} x'", f"-e AZURE_STORAGE_KEY='{MASK}'"),
        (f'"-e", "CLEARML_AGENT_GIT_PASS={SECRET}"', f'"-e", "CLEARML_AGENT_GIT_PASS={MASK}"'),
        # YAML
        (f'CLEARML_API_SECRET_KEY: "{SECRET}"', f'CLEARML_API_SECRET_KEY: "{MASK}"'),
        (f"  CLEARML_API_SECRET_KEY: {SECRET}", f"  CLEARML_API_SECRET_KEY: {MASK}"),
        (f"- AWS_SECRET_ACCESS_KEY={SECRET}", f"- AWS_SECRET_ACCESS_KEY={MASK}"),
        # JSON
        (f'{{"CLEARML_API_SECRET_KEY": "{SECRET}"}}', f'{{"CLEARML_API_SECRET_KEY": "{MASK}"}}'),
        (f'{{"CLEARML_API_SECRET_KEY":"{SECRET}","x":1}}', f'{{"CLEARML_API_SECRET_KEY":"{MASK}","x":1}}'),
        ('{"CLEARML_API_SECRET_KEY": "a\\"b"}', f'{{"CLEARML_API_SECRET_KEY": "{MASK}"}}'),
        (
            f'["AWS_SECRET_ACCESS_KEY={SECRET}", "PATH=/bin"]',
            f'["AWS_SECRET_ACCESS_KEY={MASK}", "PATH=/bin"]',
        ),
        ('["AWS_SECRET_ACCESS_KEY=a,b c", "PATH=/bin"]', f'["AWS_SECRET_ACCESS_KEY={MASK}", "PATH=/bin"]'),
        # Python reprs
        (f"{{'AZURE_STORAGE_KEY': '{SECRET}'}}", f"{{'AZURE_STORAGE_KEY': '{MASK}'}}"),
        # HOCON (clearml.conf)
        (f"AWS_SECRET_ACCESS_KEY = {SECRET}", f"AWS_SECRET_ACCESS_KEY = {MASK}"),
        (f'AWS_SECRET_ACCESS_KEY = "{SECRET}"', f'AWS_SECRET_ACCESS_KEY = "{MASK}"'),
        (
            f"env {{ AWS_SECRET_ACCESS_KEY: {SECRET}, B: 1 }}",
            f"env {{ AWS_SECRET_ACCESS_KEY: {MASK}, B: 1 }}",
        ),
        (f"{{AWS_SECRET_ACCESS_KEY={SECRET}}}", f"{{AWS_SECRET_ACCESS_KEY={MASK}}}"),
    ],
)
def test_shapes(text, expected):
    assert redact(text) == expected
    assert SECRET not in redact(text)


def test_every_occurrence_and_every_default_name():
    text = "\n".join(f"{name}={SECRET}{n}" for n, name in enumerate(DEFAULT_HIDDEN_CONTAINER_ARGS * 2))
    out = redact(text)
    assert SECRET not in out
    assert out.count(MASK) == 8


def test_other_variables_and_lookalike_names_are_left_alone():
    text = (
        "PATH=/usr/bin\n"
        "MY_AWS_SECRET_ACCESS_KEY=visible1\n"
        "AWS_SECRET_ACCESS_KEY_ID=visible2\n"
        "aws_secret_access_key=visible3\n"
        "AWS_SECRET_ACCESS_KEY is documented here\n"
    )
    assert redact(text) == text


def test_empty_value_does_not_swallow_the_next_line():
    text = "AWS_SECRET_ACCESS_KEY=\nOTHER=visible\nAZURE_STORAGE_KEY:\n  nested: visible"
    assert "OTHER=visible" in redact(text)
    assert "nested: visible" in redact(text)


def test_idempotent():
    text = f'-e AWS_SECRET_ACCESS_KEY={SECRET} "AZURE_STORAGE_KEY": "{SECRET}"'
    once = redact(text)
    assert redact(once) == once


def test_custom_list_and_empty_list():
    text = f"MY_TOKEN={SECRET} AWS_SECRET_ACCESS_KEY={SECRET}"
    assert redact(text, ["MY_TOKEN"]) == f"MY_TOKEN={MASK} AWS_SECRET_ACCESS_KEY={SECRET}"
    assert redact(text, []) == text
    assert redact("", ["MY_TOKEN"]) == ""


def test_json_stays_valid_json():
    data = {"env": {"CLEARML_API_SECRET_KEY": 'q"uo\\te', "A": "b"}, "args": ["-e", "AZURE_STORAGE_KEY=x y"]}
    out = json.loads(redact(json.dumps(data)))
    assert out == {
        "env": {"CLEARML_API_SECRET_KEY": MASK, "A": "b"},
        "args": ["-e", f"AZURE_STORAGE_KEY={MASK}"],
    }


def test_names_are_literal_not_patterns():
    assert redact("A.B=1 AXB=2", ["A.B"]) == f"A.B={MASK} AXB=2"


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\"'\\"), min_size=1))
def test_no_quoted_value_leaks(value):
    assert redact(f'AWS_SECRET_ACCESS_KEY="{value}"') == f'AWS_SECRET_ACCESS_KEY="{MASK}"'
    assert json.loads(redact(json.dumps({"AWS_SECRET_ACCESS_KEY": value + '"\\'}))) == {
        "AWS_SECRET_ACCESS_KEY": MASK
    }


@given(
    st.text(
        alphabet=st.characters(
            blacklist_categories=["Cs", "Zs", "Zl", "Zp", "Cc"], blacklist_characters="\"'\\,}]"
        ),
        min_size=1,
    )
)
def test_no_bare_value_leaks(value):
    assert redact(f"-e AWS_SECRET_ACCESS_KEY={value} --rm") == f"-e AWS_SECRET_ACCESS_KEY={MASK} --rm"


@pytest.mark.django_db
def test_redact_for_uses_the_users_list():
    user = UserFactory()
    text = f"MY_TOKEN={SECRET} AWS_SECRET_ACCESS_KEY={SECRET}"
    assert redact_for(user, text) == f"MY_TOKEN={SECRET} AWS_SECRET_ACCESS_KEY={MASK}"
    hidden_args_update(user=user, names=["MY_TOKEN"])
    user.refresh_from_db()
    assert redact_for(user, text) == f"MY_TOKEN={MASK} AWS_SECRET_ACCESS_KEY={SECRET}"


def test_redact_for_anonymous_or_user_without_preferences_uses_the_defaults():
    from django.contrib.auth.models import AnonymousUser

    assert redact_for(AnonymousUser(), f"AZURE_STORAGE_KEY={SECRET}") == f"AZURE_STORAGE_KEY={MASK}"
