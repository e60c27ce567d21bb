"""Shared plumbing for the `portal_*` management commands (sub-commands, --json, errors)."""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class SubcommandCommand(BaseCommand):
    """A command whose first argument picks a sub-command handled by `handle_<name>`."""

    def add_subcommands(self, subparsers) -> None:
        raise NotImplementedError

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        # Sub-parsers must build the same way as the main parser to get Django's options handling.
        subparsers._parser_class = type(parser)
        self.add_subcommands(subparsers)

    def handle(self, *args, subcommand: str, **options) -> None:
        handler = getattr(self, f"handle_{subcommand.replace('-', '_')}")
        try:
            handler(**options)
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None

    def print_json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, default=str))


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
