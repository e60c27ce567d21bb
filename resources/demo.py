"""Demo data: the Example Workflow of the Resource Configuration page, with jobs flowing.

    from resources.demo import load_resources_demo
    load_resources_demo(workspace=workspace, admin=admin, members={"Dev": [alice], ...})

H100 (64), Bare Metal (60) and AWS (200) are mostly busy with Product Team jobs; Dev
and Research (reservation 8, limit 16) each enqueue four 4xGPU jobs. After the pass,
two of each team run (Dev on Bare Metal, Research on H100) and two of each wait, as
the spec's walkthrough describes. A few finished Product jobs give the tables history.
"""

from __future__ import annotations

from django.db import transaction

from access.models import UserGroup
from access.services import group_add_member

from .models import Job, Pool
from .scheduler import schedule_until_idle
from .services import jobs
from .simulation import Run

EXAMPLE_WORKFLOW = {
    "pools": [
        {
            "id": "h100",
            "name": "H100 Half a Superpod",
            "capacity": 64,
            "description": "Local H100 superpod (half).",
        },
        {
            "id": "bm",
            "name": "Bare Metal Low END GPUs",
            "capacity": 60,
            "description": "Older bare-metal servers.",
        },
        {
            "id": "aws",
            "name": "AWS Autoscaler",
            "capacity": 200,
            "description": "g5.48xlarge, managed by the autoscaler.",
        },
    ],
    "profiles": [
        {"id": "0.5x", "name": "0.5xGPU High Priority", "allotment": 0.5, "policy_priority": ["product"]},
        {"id": "2x", "name": "2xGPU High Priority", "allotment": 2, "policy_priority": ["product"]},
        {"id": "4x", "name": "4xGPU", "allotment": 4, "policy_priority": ["dev", "research", "product"]},
        {"id": "8x", "name": "8xGPU", "allotment": 8, "policy_priority": ["product"]},
    ],
    "links": [
        {"name": "0.5 GPU H100", "profile": "0.5x", "pool": "h100", "precedence": 1, "execution_priority": 4},
        {"name": "2 GPU H100", "profile": "2x", "pool": "h100", "precedence": 1, "execution_priority": 1},
        {"name": "4 GPU Low End", "profile": "4x", "pool": "bm", "precedence": 1, "execution_priority": 1},
        {"name": "4 GPU H100", "profile": "4x", "pool": "h100", "precedence": 2, "execution_priority": 2},
        {"name": "Local H100", "profile": "8x", "pool": "h100", "precedence": 1, "execution_priority": 3},
        {"name": "g5.48xlarge", "profile": "8x", "pool": "aws", "precedence": 2, "execution_priority": 1},
    ],
    "policies": [
        {
            "id": "dev",
            "name": "Dev Team",
            "group": "Dev",
            "reservation": 8,
            "limit": 16,
            "queues": [{"name": "4xgpu", "profile": "4x"}],
        },
        {
            "id": "research",
            "name": "Research Team",
            "group": "Research",
            "reservation": 8,
            "limit": 16,
            "queues": [{"name": "default research", "profile": "4x"}],
        },
        {
            "id": "product",
            "name": "Product Team",
            "group": "Product",
            "reservation": 0,
            "limit": 400,
            "queues": [
                {"name": "product-0.5x", "profile": "0.5x"},
                {"name": "product-2x", "profile": "2x"},
                {"name": "product-4x", "profile": "4x"},
                {"name": "product-8x", "profile": "8x"},
            ],
        },
    ],
    "jobs": [
        {
            "id": "prod-0.5x-done",
            "policy": "product",
            "profile": "0.5x",
            "state": "running",
            "pool": "h100",
            "count": 3,
        },
        {
            "id": "prod-2x",
            "policy": "product",
            "profile": "2x",
            "state": "running",
            "pool": "h100",
            "count": 28,
        },
        {
            "id": "prod-4x",
            "policy": "product",
            "profile": "4x",
            "state": "running",
            "pool": "bm",
            "count": 13,
        },
        {
            "id": "prod-8x",
            "policy": "product",
            "profile": "8x",
            "state": "running",
            "pool": "aws",
            "count": 25,
        },
        {"id": "R1", "policy": "research", "profile": "4x"},
        {"id": "D1", "policy": "dev", "profile": "4x"},
        {"id": "R2", "policy": "research", "profile": "4x"},
        {"id": "D2", "policy": "dev", "profile": "4x"},
        {"id": "R3", "policy": "research", "profile": "4x"},
        {"id": "D3", "policy": "dev", "profile": "4x"},
        {"id": "R4", "policy": "research", "profile": "4x"},
        {"id": "D4", "policy": "dev", "profile": "4x"},
    ],
}


@transaction.atomic
def load_resources_demo(*, workspace, admin, members: dict[str, list] | None = None) -> bool:
    """Load the Example Workflow into WORKSPACE unless it has pools already; True when loaded.

    MEMBERS maps the groups Dev, Research and Product to the users put in them.
    """
    if Pool.objects.for_workspace(workspace).exists():
        return False
    run = Run(EXAMPLE_WORKFLOW, workspace=workspace, operator=admin)
    run.load()
    for group_name, users in (members or {}).items():
        group = UserGroup.objects.for_workspace(workspace).get(name=group_name)
        for user in users:
            group_add_member(group=group, actor=admin, user=user)
    # The first Product jobs have finished already: the tables have some history.
    for job in Job.objects.for_workspace(workspace).filter(name__startswith="prod-0.5x-done"):
        jobs.job_complete(job=job, actor=admin)
    Job.objects.for_workspace(workspace).filter(name__startswith="prod-0.5x-done").update(
        name="prod-0.5x (finished)"
    )
    schedule_until_idle(workspace)
    return True
