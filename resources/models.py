"""Resource configuration (pools, profiles, links), resource policies and the jobs they queue.

The tables below hold the *provisioned* configuration, the one the scheduler uses.
The editor's draft (saved or not) is a JSON document on `ResourceSettings`
(see resources/draft.py) that `provision` applies to these tables atomically.
Amounts (capacity, allotment, reservation, limit) are decimals with three places,
never floats; the scheduler works on integer thousandths of them.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.permissions import RestrictQuerySet
from settings_portal.names import UniqueNameModel
from workspaces.models import TenantQuerySet, Workspace


def Amount(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=3, **kwargs)


AMOUNT_MAX = Decimal("999999999.999")


class ResourceSettings(models.Model):
    """Per-workspace switch and editor state of the Resource Configuration page."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="resource_settings")
    # "Enable resource management": while off, no pending job is admitted.
    enabled = models.BooleanField(default=False)
    # The editor's working copy (unsaved changes) and the saved draft; None = same as the
    # layer below (working -> saved -> provisioned).
    working_draft = models.JSONField(null=True, blank=True)
    saved_draft = models.JSONField(null=True, blank=True)
    saved_at = models.DateTimeField(null=True, blank=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provisioned_at = models.DateTimeField(null=True, blank=True)
    # Debounce of event-triggered passes: set when a pass task is sent, cleared when it starts.
    schedule_requested_at = models.DateTimeField(null=True, blank=True)
    provisioned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"resource settings of {self.workspace}"


class Pool(UniqueNameModel):
    """A provisioned resource pool: CAPACITY resources ("Number of Resources")."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_pools")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    capacity = Amount()
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="resources_pool_unique_name"),
            models.UniqueConstraint(fields=["workspace", "name_key"], name="resources_pool_unique_name_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Profile(UniqueNameModel):
    """A provisioned resource profile: every job of it needs ALLOTMENT resources."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_profiles")
    name = models.CharField(max_length=100)
    allotment = Amount()
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="resources_profile_unique_name"),
            models.UniqueConstraint(
                fields=["workspace", "name_key"], name="resources_profile_unique_name_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Link(models.Model):
    """A named profile -> pool connection.

    PRECEDENCE is its rank among the profile's links (1 = tried first);
    EXECUTION_PRIORITY its rank among the pool's links (1 = served first).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_links")
    name = models.CharField(max_length=100)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="links")
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="links")
    precedence = models.PositiveIntegerField()
    execution_priority = models.PositiveIntegerField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["profile_id", "precedence"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="resources_link_unique_name"),
            models.UniqueConstraint(fields=["profile", "pool"], name="resources_link_unique_pair"),
        ]

    def __str__(self) -> str:
        return self.name


class Policy(UniqueNameModel):
    """A resource policy of a user group: RESERVATION served first, at most LIMIT in use at once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_policies")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # SET_NULL: deleting a group leaves the policy visible (and unusable) rather than
    # silently dropping its queues and jobs.
    group = models.ForeignKey(
        "access.UserGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="resource_policies"
    )
    reservation = Amount(default=Decimal(0))
    limit = Amount()
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="resources_policy_unique_name"),
            models.UniqueConstraint(
                fields=["workspace", "name_key"], name="resources_policy_unique_name_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ResourceQuerySet(RestrictQuerySet, TenantQuerySet):
    """Queues and jobs: workspace-scoped, and governed by Access Rules (`restrict(membership, READ)`)."""


class Queue(models.Model):
    """A policy's named queue on one profile. PRIORITY: the policy's rank in the profile's policy priority."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_queues")
    name = models.CharField(max_length=100)
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="queues")
    # PROTECT: a profile that policies still use cannot be deleted (the services say so first).
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="queues")
    priority = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = ResourceQuerySet.as_manager()

    class Meta:
        ordering = ["profile_id", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="resources_queue_unique_name"),
            models.UniqueConstraint(fields=["policy", "profile"], name="resources_queue_unique_pair"),
        ]

    def __str__(self) -> str:
        return self.name


class JobState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    ABORTED = "aborted", "Aborted"


class UpstreamAction(models.TextChoices):
    NONE = "", "Nothing to do"
    MOVE = "move", "Move into the agent queue"
    STOP = "stop", "Stop the task"


class Job(models.Model):
    """A job enqueued into a policy queue, FIFO by SEQ.

    A running job keeps its POOL and the ALLOTMENT it was admitted with whatever later
    happens to the configuration; pool and policy usage are sums over running jobs.
    The *_name columns keep what the job was queued on readable after deletions.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="resource_jobs")
    name = models.CharField(max_length=255)
    # The ClearML task this job runs (the caller's id, or one we generate).
    task_id = models.CharField(max_length=64, db_index=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.DRAFT)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    pool = models.ForeignKey(Pool, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    queue_name = models.CharField(max_length=100, blank=True)
    pool_name = models.CharField(max_length=100, blank=True)
    # Enqueue order (a database sequence on PostgreSQL); None while never queued.
    seq = models.BigIntegerField(null=True, blank=True)
    allotment = Amount(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A real ClearML task of the workspace's linked server (gateway/), enqueued through the
    # gateway into a policy queue upstream. Its admission is executed upstream from an outbox:
    # UPSTREAM_ACTION says what is still to be done there ("move" it into its connection's
    # agent queue, "stop" it), written in the same transaction as the state it follows from.
    upstream = models.BooleanField(default=False, db_default=False)
    upstream_action = models.CharField(
        max_length=8, choices=UpstreamAction.choices, blank=True, default="", db_default=""
    )
    action_attempts = models.PositiveIntegerField(default=0, db_default=0)
    action_error = models.CharField(max_length=500, blank=True, db_default="")
    # After a failed attempt the row waits (backing off) until then before it is tried again.
    action_due_at = models.DateTimeField(null=True, blank=True)
    moved_at = models.DateTimeField(null=True, blank=True)
    # What the server last said about the task (for the pages): status, project, when it changed.
    upstream_status = models.CharField(max_length=32, blank=True, db_default="")
    project_name = models.CharField(max_length=255, blank=True, db_default="")
    checked_at = models.DateTimeField(null=True, blank=True)

    objects = ResourceQuerySet.as_manager()

    class Meta:
        ordering = ["seq", "id"]
        indexes = [
            # The scheduler reads queue heads: pending jobs of a queue in enqueue order.
            models.Index(
                fields=["queue", "seq", "id"], condition=Q(state="pending"), name="resources_job_pending"
            ),
            # Usage sums over running jobs.
            models.Index(
                fields=["workspace", "pool"], condition=Q(state="running"), name="resources_job_running"
            ),
            models.Index(fields=["workspace", "state", "seq"], name="resources_job_state"),
            # The outbox: admitted (or aborted) real tasks whose upstream move (or stop) is due.
            models.Index(
                fields=["workspace", "started_at", "id"],
                condition=~Q(upstream_action=""),
                name="resources_job_outbox",
            ),
        ]
        constraints = [
            # A real task waits in one policy queue at a time: the gateway's record and the
            # reconciliation's adoption of the same task cannot make two pending jobs.
            models.UniqueConstraint(
                fields=["workspace", "task_id"],
                condition=Q(upstream=True, state="pending"),
                name="resources_job_pending_task_once",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UpstreamQueueKind(models.TextChoices):
    POLICY = "policy", "Policy queue"
    AGENT = "agent", "Agent queue"


class UpstreamQueue(models.Model):
    """The ledger of the queues the portal keeps on the workspace's ClearML server.

    One row per policy queue (users enqueue there; nobody serves it) and per profile-to-pool
    connection (its agent queue, named after the connection; only the scheduler puts tasks
    there and that pool's agents serve it). UPSTREAM_ID is empty until the server made the
    queue. A row whose portal object is gone (QUEUE and LINK both NULL) is retired: the
    server's queue is deleted once it is empty. Kept in step by resources.services.upstream.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="upstream_queues")
    kind = models.CharField(max_length=8, choices=UpstreamQueueKind.choices)
    queue = models.OneToOneField(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="upstream"
    )
    link = models.OneToOneField(
        Link, null=True, blank=True, on_delete=models.SET_NULL, related_name="upstream"
    )
    # The name the server's queue has (the portal object's name once synced).
    name = models.CharField(max_length=200)
    upstream_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "upstream_id"],
                condition=~Q(upstream_id=""),
                name="resources_upstream_queue_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.upstream_id or 'not created'})"

    @property
    def retired(self) -> bool:
        return self.queue_id is None and self.link_id is None
