"""What a view does with a service's refusal: a `ValidationError` (bad input) or a `PermissionDenied`
(the actor may not do this). Written once so every form and message says it the same way."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError


def error_messages(exc: ValidationError | PermissionDenied) -> list[str]:
    """The human messages of EXC, field names dropped (for a message, a dialog or a board)."""
    if isinstance(exc, PermissionDenied):
        return [str(exc)]
    if hasattr(exc, "error_dict"):
        return [message for field_messages in exc.message_dict.values() for message in field_messages]
    return list(exc.messages)


def error_text(exc: ValidationError | PermissionDenied) -> str:
    """EXC's messages as one sentence."""
    return " ".join(error_messages(exc))


def form_add_service_error(form: forms.Form, exc: ValidationError | PermissionDenied) -> None:
    """Put a service's refusal on FORM: a field's errors on that field when the form has it, the
    rest at the top of the form."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc))
    elif hasattr(exc, "error_dict"):
        for field, field_messages in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, field_messages)
    else:
        form.add_error(None, exc)
