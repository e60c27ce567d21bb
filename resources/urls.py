from django.urls import path

from . import views

app_name = "resources"

R = "w/<slug:workspace_slug>/resources/"
E = f"{R}editor/"

urlpatterns = [
    path(R, views.config, name="config"),
    path(f"{R}enable/", views.enable, name="enable"),
    path(E, views.editor, name="editor"),
    path(f"{E}pools/new/", views.pool_form, name="pool-new"),
    path(f"{E}pools/<slug:key>/", views.pool_form, name="pool-edit"),
    path(f"{E}pools/<slug:key>/delete/", views.pool_delete, name="pool-delete"),
    path(f"{E}profiles/new/", views.profile_form, name="profile-new"),
    path(f"{E}profiles/<slug:key>/", views.profile_form, name="profile-edit"),
    path(f"{E}profiles/<slug:key>/delete/", views.profile_delete, name="profile-delete"),
    path(f"{E}connect/", views.connect, name="connect"),
    path(f"{E}links/<slug:key>/delete/", views.link_delete, name="link-delete"),
    path(f"{E}order/", views.order, name="order"),
    path(f"{E}move/", views.move, name="move"),
    path(f"{E}save/", views.save, name="save"),
    path(f"{E}provision/", views.provision, name="provision"),
    path(f"{E}reset/", views.reset, name="reset"),
    path(f"{E}exit/", views.exit_editor, name="exit"),
    path(f"{R}policies/", views.policies, name="policies"),
    path(f"{R}policies/new/", views.policy_form, name="policy-new"),
    path(f"{R}policies/<int:pk>/", views.policy_form, name="policy-edit"),
    path(f"{R}policies/<int:pk>/delete/", views.policy_delete, name="policy-delete"),
    path(f"{R}jobs/enqueue/", views.enqueue, name="enqueue"),
    path(f"{R}jobs/<int:pk>/abort/", views.job_abort, name="job-abort"),
]
