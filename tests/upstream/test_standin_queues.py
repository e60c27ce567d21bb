"""Queue and task-status semantics of the stand-in, as the README of the recordings states them for
the real apiserver (../shared/spec/clearml-upstream/README.md, "Other observations")."""

import pytest


@pytest.fixture
def alice(clearml_upstream):
    return clearml_upstream.create_user("Alice Example")


@pytest.fixture
def api(upstream_as, alice):
    return upstream_as(alice)


@pytest.fixture
def queues(clearml_upstream):
    return clearml_upstream.create_queue("policy-dev-4gpu"), clearml_upstream.create_queue("pool-baremetal")


def new_task(api, name="sched-job"):
    return api.ok("tasks.create", name=name, type="training")["id"]


def status_of(standin, task_id):
    task = standin.task(task_id)
    return task["status"], task.get("execution", {}).get("queue"), task.get("enqueue_status")


def test_enqueue_into_another_queue_moves_the_task(clearml_upstream, api, queues):
    policy, pool = queues
    task = new_task(api)
    first = api.ok("tasks.enqueue", task=task, queue=policy)
    assert first["fields"]["enqueue_status"] == "created" and first["queued"] == 1
    assert clearml_upstream.queue_entries(policy) == [task]

    moved = api.ok("tasks.enqueue", task=task, queue=pool)
    assert moved["fields"]["execution.queue"] == pool
    assert moved["fields"]["enqueue_status"] == "created"  # the status before the first enqueue
    assert clearml_upstream.queue_entries(policy) == []
    assert clearml_upstream.queue_entries(pool) == [task]
    assert status_of(clearml_upstream, task) == ("queued", pool, "created")


def test_get_next_task_pops_in_order_and_answers_empty_data_when_empty(clearml_upstream, api, queues):
    _, pool = queues
    first, second = new_task(api, "first"), new_task(api, "second")
    api.ok("tasks.enqueue", task=first, queue=pool)
    api.ok("tasks.enqueue", task=second, queue=pool)

    assert api.ok("queues.get_next_task", queue=pool)["entry"]["task"] == first
    assert clearml_upstream.queue_entries(pool) == [second]
    assert status_of(clearml_upstream, first)[0] == "queued"  # popping does not start it
    assert api.ok("queues.get_next_task", queue=pool)["entry"]["task"] == second
    assert api.ok("queues.get_next_task", queue=pool) == {}
    assert api.call("queues.get_next_task", {"queue": "no-such-queue"}).subcode == 701


def test_remove_task_alone_leaves_the_task_queued(clearml_upstream, api, queues):
    policy, _ = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=policy)
    assert api.ok("queues.remove_task", queue=policy, task=task) == {"removed": 1}
    assert clearml_upstream.queue_entries(policy) == []
    assert status_of(clearml_upstream, task) == ("queued", policy, "created")
    again = api.call("queues.remove_task", {"queue": policy, "task": task})
    assert (again.status, again.subcode) == (400, 703)


def test_remove_task_with_update_task_status_returns_it_to_its_enqueue_status(clearml_upstream, api, queues):
    policy, pool = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    api.ok("tasks.stop", task=task)  # queued -> stopped
    api.ok("tasks.enqueue", task=task, queue=policy)
    assert status_of(clearml_upstream, task) == ("queued", policy, "stopped")

    assert api.ok("queues.remove_task", queue=policy, task=task, update_task_status=True) == {"removed": 1}
    assert status_of(clearml_upstream, task) == ("stopped", None, None)


def test_stopping_a_queued_task_drops_its_entry(clearml_upstream, api, queues, alice):
    _, pool = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    stopped = api.ok("tasks.stop", task=task, status_reason="cancelled by scheduler")
    assert stopped["fields"]["status"] == "stopped"
    assert stopped["fields"]["status_message"] == "Stopped by Alice Example"
    assert clearml_upstream.queue_entries(pool) == []
    assert status_of(clearml_upstream, task)[:2] == ("stopped", pool)  # execution.queue is kept


def test_stop_of_a_created_task_is_an_invalid_status_change(api):
    task = new_task(api)
    reply = api.call("tasks.stop", {"task": task})
    assert (reply.status, reply.subcode) == (400, 110)
    assert (
        reply.msg == "Invalid task status (Invalid status change): current_status=created, new_status=stopped"
    )


def test_stop_of_a_task_a_worker_runs_only_asks_the_worker(clearml_upstream, upstream_as, queues):
    _, pool = queues
    agent = clearml_upstream.create_user("Agent Service", role="admin")
    api = upstream_as(agent)
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    api.ok("workers.register", worker="w:0", queues=[pool])
    assert api.ok("queues.get_next_task", queue=pool)["entry"]["task"] == task
    api.ok("tasks.started", task=task, force=True)
    api.ok("workers.status_report", worker="w:0", task=task, timestamp=0)

    asked = api.ok("tasks.stop", task=task)
    assert asked["fields"]["status"] == "in_progress" and asked["fields"]["status_message"] == "stopping"
    assert api.ok("tasks.stopped", task=task)["fields"]["status"] == "stopped"


def test_dequeue_returns_the_task_to_created_and_keeps_execution_queue(clearml_upstream, api, queues):
    _, pool = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    reply = api.ok("tasks.dequeue", task=task)
    assert reply["dequeued"] == 1 and reply["fields"]["status"] == "created"
    assert reply["fields"]["enqueue_status"] is None
    assert clearml_upstream.queue_entries(pool) == []
    assert status_of(clearml_upstream, task) == ("created", pool, None)
    assert api.ok("tasks.dequeue", task=task) == {"dequeued": 1, "updated": 0}


def test_a_popped_task_the_agent_dequeues_into_in_progress(clearml_upstream, api, queues):
    _, pool = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    api.ok("queues.get_next_task", queue=pool)
    assert api.ok("tasks.started", task=task, force=True)["fields"]["started"]
    reply = api.ok("tasks.dequeue", task=task, new_status="in_progress")
    assert reply["fields"]["status"] == "in_progress"
    assert api.call("tasks.dequeue", {"task": task, "new_status": "flying"}).subcode == 12


def test_deleting_a_queue_with_entries_needs_force_and_requeues_nothing(clearml_upstream, api, queues):
    policy, _ = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=policy)
    refused = api.call("queues.delete", {"queue": policy})
    assert (refused.status, refused.subcode) == (400, 702)
    assert refused.msg == f"Queue is not empty (use force=true to delete): id={policy}"
    assert api.ok("queues.delete", queue=policy, force=True) == {"deleted": 1}
    assert status_of(clearml_upstream, task) == ("created", None, None)
    gone = api.call("queues.get_by_id", {"queue": policy})
    assert gone.msg == f"Invalid queue id: id={policy}, company={clearml_upstream.company_id}"


def test_enqueue_defaults_and_queue_names(clearml_upstream, api):
    task = new_task(api)
    api.ok("tasks.enqueue", task=task)
    assert clearml_upstream.queue_entries(clearml_upstream.default_queue_id) == [task]
    other = new_task(api, "other")
    by_name = api.ok("tasks.enqueue", task=other, queue_name="made-on-the-fly")
    made = by_name["fields"]["execution.queue"]
    assert clearml_upstream.state.queues[made]["name"] == "made-on-the-fly"
    assert api.ok("queues.get_default") == {"id": clearml_upstream.default_queue_id, "name": "default"}


def test_status_machine_refuses_what_the_server_refuses(api, queues):
    _, pool = queues
    task = new_task(api)
    api.ok("tasks.started", task=task)
    api.ok("tasks.completed", task=task)
    refused = api.call("tasks.enqueue", {"task": task, "queue": pool})
    assert (refused.status, refused.subcode) == (400, 110)
    assert "current_status=completed, new_status=queued" in refused.msg
    forced = api.call("tasks.enqueue", {"task": task, "queue": pool, "force": True})
    assert forced.status == 200
    reset = api.ok("tasks.reset", task=task)
    assert reset["fields"]["status"] == "created" and reset["dequeued"] == {"removed": 1}


def test_queue_listing_and_entries(clearml_upstream, api, queues):
    policy, pool = queues
    task = new_task(api)
    api.ok("tasks.enqueue", task=task, queue=pool)
    assert api.ok("queues.get_num_entries", queue=pool) == {"num": 1}
    assert api.ok("queues.peek_task", queue=pool) == {"task": task}
    named = api.ok("queues.get_all", name="^pool\\-baremetal$", only_fields=["id"])
    assert named == {"queues": [{"id": pool}]}
    bad = api.call("queues.get_all", {"only_fields": ["id", "user"]})
    assert (bad.status, bad.subcode) == (400, 14)
    ex = api.ok("queues.get_all_ex", id=[pool])["queues"][0]
    assert ex["entries"][0]["task"] == {"id": task, "name": "sched-job"}
    legacy = api.call("queues.get_all", {"id": [policy]}, version="2.5").data["queues"][0]
    assert legacy["metadata"] == []  # before 2.13 metadata is a list
