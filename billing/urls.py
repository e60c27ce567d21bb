from django.urls import path

from . import views

app_name = "billing"

W = "w/<slug:workspace_slug>/billing/"

urlpatterns = [
    path(W, views.overview, name="overview"),
    path(f"{W}upgrade/", views.upgrade, name="upgrade"),
    path(f"{W}info/", views.billing_info, name="info"),
    path(f"{W}payment-methods/", views.payment_methods, name="payment-methods"),
    path(f"{W}invoices/", views.invoices, name="invoices"),
    path(f"{W}invoices/email/", views.invoices_email, name="invoices-email"),
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
