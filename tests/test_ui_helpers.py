"""The UI's shared gestures (settings_portal/htmx.py, forms.py, templatetags/portal.py, docs/ui.md)."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from settings_portal.forms import error_messages, error_text, form_add_service_error
from settings_portal.htmx import next_url
from settings_portal.templatetags.portal import when

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("moment", "relative"),
    [
        (NOW - timedelta(seconds=20), "just now"),
        (NOW - timedelta(minutes=5, seconds=30), "5 minutes ago"),
        (NOW - timedelta(hours=3, minutes=59), "3 hours ago"),
        (NOW - timedelta(days=40), "1 month ago"),
        (NOW + timedelta(days=6, hours=23), "in 6 days"),
    ],
)
def test_one_date_format_relative_with_the_exact_time_on_hover(moment, relative):
    html = str(when(moment)).replace("\xa0", " ")  # timesince keeps "5 minutes" on one line
    assert html == (
        f'<time datetime="{moment.isoformat()}" title="{moment:%Y-%m-%d %H:%M} UTC">{relative}</time>'
    )


def test_no_date_no_time():
    assert when(None) == ""


def test_pages_show_dates_one_way():
    """Every date a page shows goes through |when (emails keep their absolute dates)."""
    root = Path(settings.BASE_DIR) / "templates"
    absolute = re.compile(r"\|date:\s*[\"'](?!c[\"'])|\|timesince|\|naturaltime")
    offenders = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.html")
        if absolute.search(path.read_text())
    ]
    offenders = [
        name for name in offenders if name != "billing/overview.html" or _shows_a_moment(root / name)
    ]
    assert not offenders, offenders


def _shows_a_moment(path: Path) -> bool:
    """Any absolute date but the usage chart's labels: a day ("Mar 14") or a month ("March 2026") is not a moment."""
    uses = re.findall(r"\|date:\s*[\"']([^\"']*)[\"']", path.read_text())
    return any(fmt not in {"M j", "F Y"} for fmt in uses)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/w/team/users/", "/w/team/users/"),
        ("/settings/workspace/?open=team#workspace-team", "/settings/workspace/?open=team#workspace-team"),
        ("//evil.example/", "/fallback/"),
        ("https://evil.example/", "/fallback/"),
        ("/\\evil.example", "/fallback/"),
        ("javascript:alert(1)", "/fallback/"),
        ("", "/fallback/"),
        ("/" + "x" * 3000, "/fallback/"),
    ],
)
def test_next_url_is_a_path_of_this_site(given, expected):
    assert next_url(RequestFactory().post("/", {"next": given}), "/fallback/") == expected
    assert next_url(RequestFactory().get("/", {"next": given}), "/fallback/") == expected


class NameForm(forms.Form):
    name = forms.CharField()


def test_a_service_refusal_lands_on_the_form():
    form = NameForm({"name": "x"})
    assert form.is_valid()
    form_add_service_error(form, ValidationError({"name": "Taken.", "other": "Elsewhere.", "__all__": "No."}))
    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Elsewhere.", "No."]
    form = NameForm({"name": "x"})
    form.is_valid()
    form_add_service_error(form, PermissionDenied("Not yours."))
    assert form.non_field_errors() == ["Not yours."]
    form = NameForm({"name": "x"})
    form.is_valid()
    form_add_service_error(form, ValidationError(["One.", "Two."]))
    assert form.non_field_errors() == ["One.", "Two."]


def test_a_service_refusal_as_a_message():
    assert error_messages(ValidationError({"a": ["One."], "b": "Two."})) == ["One.", "Two."]
    assert error_text(ValidationError("Alone.")) == "Alone."
    assert error_text(PermissionDenied("Not yours.")) == "Not yours."
