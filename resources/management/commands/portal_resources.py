"""`manage.py portal_resources simulate|schedule|export|import`: the scheduler from the command line.

portal_resources simulate SCENARIOS.json       play scenarios (rolled back), print JSON results
portal_resources schedule [--workspace SLUG]    one scheduling run, print what it admitted
portal_resources export FILE.yaml --workspace SLUG
portal_resources import FILE.yaml --workspace SLUG   (validates everything first; all or nothing)
portal_resources enqueue --workspace SLUG --queue NAME [--user EMAIL] [--name N] [--count K] [--json]
"""

import json
from json import dumps as json_dumps
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from accounts.models import User
from resources.models import Job, Pool, Queue, ResourceSettings
from resources.scheduler import schedule_until_idle
from resources.services.jobs import job_enqueue
from resources.simulation import ScenarioError, simulate
from resources.transfer import export_yaml, import_yaml
from settings_portal.commands import SubcommandCommand
from settings_portal.inputs import parse_id
from workspaces.models import Workspace


class Command(SubcommandCommand):
    help = "Resource configuration and the policy scheduler: simulate, schedule, export, import."

    def add_subcommands(self, subparsers) -> None:
        simulate = subparsers.add_parser(
            "simulate", help="Play scenarios of a scheduler-scenarios.json file."
        )
        simulate.add_argument("file", help="Scenario file (a JSON list of scenarios).")
        schedule = subparsers.add_parser("schedule", help="Run the scheduler once; print what it admitted.")
        schedule.add_argument(
            "--workspace", help="Workspace slug (default: every workspace with management on)."
        )
        export = subparsers.add_parser(
            "export", help="Write the provisioned configuration and policies as YAML."
        )
        export.add_argument("file", help="Output file ('-' for standard output).")
        export.add_argument("--workspace", required=True, help="Workspace slug.")
        imp = subparsers.add_parser("import", help="Replace the configuration and policies from a YAML file.")
        imp.add_argument("file", help="Input file (as written by export).")
        imp.add_argument("--workspace", required=True, help="Workspace slug.")
        enqueue = subparsers.add_parser("enqueue", help="Put jobs into a policy's queue.")
        enqueue.add_argument("--workspace", required=True, help="Workspace slug.")
        enqueue.add_argument("--queue", required=True, help="Queue name (or id).")
        enqueue.add_argument(
            "--user", help="Enqueue as this member (must be in the policy's group); default: the operator."
        )
        enqueue.add_argument("--name", default="", help="Job name (a number is appended with --count).")
        enqueue.add_argument("--count", type=int, default=1, help="How many jobs (1-10000).")
        enqueue.add_argument("--json", action="store_true")

    def _workspace(self, slug: str) -> Workspace:
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"No workspace with the slug {slug!r}.")
        return workspace

    def handle_simulate(self, *, file: str, **options) -> None:
        try:
            scenarios = json.loads(Path(file).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        if isinstance(scenarios, dict):
            scenarios = [scenarios]
        try:
            results = simulate(scenarios)
        except (ScenarioError, KeyError) as exc:
            raise CommandError(f"Bad scenario: {exc}") from None
        self.stdout.write(json.dumps(results, indent=1))

    def handle_schedule(self, *, workspace: str | None = None, **options) -> None:
        if workspace:
            workspaces = [self._workspace(workspace)]
        else:
            ids = (
                ResourceSettings.objects.dangerously_all()
                .filter(enabled=True)
                .values_list("workspace_id", flat=True)
            )
            workspaces = list(Workspace.objects.filter(pk__in=ids))
        for ws in workspaces:
            result = schedule_until_idle(ws)
            if not result.enabled:
                self.stdout.write(f"{ws.slug}: resource management is disabled; nothing admitted.")
                continue
            names = dict(
                Job.objects.filter(pk__in=[j for j, _p in result.admitted]).values_list("pk", "name")
            )
            pools = dict(Pool.objects.for_workspace(ws).values_list("pk", "name"))
            self.stdout.write(f"{ws.slug}: admitted {len(result.admitted)} job(s)")
            for job_id, pool_id in result.admitted:
                self.stdout.write(f"  {names.get(job_id, job_id)} -> {pools.get(pool_id, pool_id)}")

    def handle_export(self, *, file: str, workspace: str, **options) -> None:
        text = export_yaml(workspace=self._workspace(workspace))
        if file == "-":
            self.stdout.write(text)
        else:
            Path(file).write_text(text)
            self.stdout.write(f"Wrote {file}.")

    def handle_import(self, *, file: str, workspace: str, **options) -> None:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        result = import_yaml(workspace=self._workspace(workspace), actor=None, text=text)
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))
        self.stdout.write(f"Imported {file}.")

    def handle_enqueue(self, *, workspace: str, queue: str, user, name: str, count: int, json: bool, **_):
        ws = self._workspace(workspace)
        if not 1 <= count <= 10_000:
            raise CommandError("--count must be between 1 and 10000.")
        queues = Queue.objects.for_workspace(ws).select_related("policy")
        found = queues.filter(name=queue).first() or (
            queues.filter(pk=parse_id(queue)).first() if parse_id(queue) is not None else None
        )
        if found is None:
            raise CommandError(f"No queue named {queue!r} in {ws.slug}.")
        actor = None
        if user:
            actor = User.objects.filter(email__iexact=user).first()
            if actor is None:
                raise CommandError(f"No user with the email {user!r}.")
        jobs = []
        try:
            for i in range(count):
                job_name = f"{name}-{i + 1}" if name and count > 1 else name
                jobs.append(
                    job_enqueue(
                        workspace=ws, actor=actor, queue=found, name=job_name, check_group=actor is not None
                    )
                )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        # In the embedded default the scheduler has already run; show where each job stands.
        states = dict(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "state"))
        if json:
            self.stdout.write(
                json_dumps(
                    [{"id": j.pk, "task_id": j.task_id, "name": j.name, "state": states[j.pk]} for j in jobs],
                    indent=2,
                )
            )
            return
        for job in jobs:
            self.stdout.write(f"enqueued {job.name} ({job.task_id}) into {found.name}: {states[job.pk]}")
