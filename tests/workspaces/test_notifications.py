from django.urls import reverse

from workspaces.invitations import invitation_create
from workspaces.models import Notification
from workspaces.notifications import notify

LIST = reverse("workspaces:notification-list")


def read_url(notification):
    return reverse("workspaces:notification-read", args=[notification.pk])


def test_the_bell_shows_the_unread_count(client, owner, admin_member, workspace):
    client.force_login(admin_member)
    html = client.get(reverse("accounts:profile")).content.decode()
    assert 'id="notifications-bell"' in html and 'data-testid="unread-count"' not in html
    invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    invitation_create(workspace=workspace, actor=owner, email="b@example.com")
    html = client.get(reverse("accounts:profile")).content.decode()
    assert 'aria-label="Notifications, 2 unread"' in html
    assert '<span class="badge badge-warning" data-testid="unread-count">2</span>' in html


def test_the_list_shows_only_your_notifications(client, owner, admin_member, outsider, workspace):
    invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    notify(users=[outsider], message="for the outsider only")
    client.force_login(admin_member)
    html = client.get(LIST).content.decode()
    assert "owner invited a@example.com to Team." in html
    assert "for the outsider only" not in html


def test_mark_one_read_with_htmx_updates_the_bell(client, member, hx):
    first, second = (notify(users=[member], message=m) and Notification.objects.latest("pk") for m in "ab")
    client.force_login(member)
    response = client.post(read_url(first), headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'id="notification-{first.pk}"' in html and "Mark read" not in html
    assert 'hx-swap-oob="true"' in html and 'aria-label="Notifications, 1 unread"' in html
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None and second.read_at is None


def test_mark_all_read_without_javascript(client, member):
    notify(users=[member], message="a")
    notify(users=[member], message="b")
    client.force_login(member)
    response = client.post(reverse("workspaces:notifications-read-all"), follow=True)
    assert "2 notifications marked read." in response.content.decode()
    assert not Notification.objects.filter(user=member, read_at__isnull=True).exists()


def test_mark_all_read_with_htmx(client, member, hx):
    notify(users=[member], message="a")
    client.force_login(member)
    html = client.post(reverse("workspaces:notifications-read-all"), headers=hx).content.decode()
    assert 'id="notification-list"' in html and "<html" not in html
    assert 'aria-label="Notifications"' in html  # the bell, no longer counting


def test_open_marks_read_and_follows_the_link(client, member):
    notify(users=[member], message="go", url="/settings/workspace/?open=team")
    notification = Notification.objects.get()
    client.force_login(member)
    response = client.post(read_url(notification), {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/settings/workspace/?open=team"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_open_never_leaves_the_site(client, member):
    notify(users=[member], message="evil", url="//evil.example.com/")
    client.force_login(member)
    response = client.post(read_url(Notification.objects.get()), {"open": "1"})
    assert response["Location"] == LIST


def test_someone_elses_notification_is_not_found(client, member, outsider):
    notify(users=[outsider], message="private")
    client.force_login(member)
    assert client.post(read_url(Notification.objects.get())).status_code == 404
    assert Notification.objects.get().read_at is None


def test_notifications_need_sign_in(client, db):
    assert client.get(LIST).status_code == 302


def test_list_queries_are_bounded(client, member, django_assert_num_queries):
    for n in range(30):
        notify(users=[member], message=f"n{n}", url="/")
    client.force_login(member)
    # session, user, current membership, preferences, bell count, page count, page
    with django_assert_num_queries(7):
        assert client.get(LIST).status_code == 200
