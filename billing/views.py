"""Usage & Billing (administrators): usage figures, and with STRIPE_ENABLED the Pro plan.

Dialogs (billing info, invoices, upgrade terms) load into #modal-content and work as
pages without JS. Steps that leave for Stripe (Checkout, Billing Portal) are plain
form posts answered with a redirect to Stripe's URL.
"""

import logging
from functools import wraps

import stripe
from django.conf import settings
from django.contrib import messages
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import render_fragment_or_page
from settings_portal.middleware import BASE_POLICY, BLOCKED_SCRIPTS_POLICY, build_policy, user_blocks_scripts
from workspaces.audit import audit_log
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import selectors, services, stripe_api, webhooks
from .forms import TermsForm
from .models import Plan

logger = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "Billing is not configured on this portal: ask its operator to set up Stripe (STRIPE_ENABLED)."
)
STRIPE_DOWN = "Stripe could not be reached; nothing was changed. Try again in a moment."


# Browsers apply form-action to the redirect after a POST too: the pages whose forms end
# at Stripe (Checkout, Billing Portal) must allow Stripe's origins there.
STRIPE_FORM_ACTION = "'self' https://checkout.stripe.com https://billing.stripe.com"


def allows_stripe_redirects(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if settings.STRIPE_ENABLED:
            base = BLOCKED_SCRIPTS_POLICY if user_blocks_scripts(request) else BASE_POLICY
            response["Content-Security-Policy"] = build_policy({**base, "form-action": STRIPE_FORM_ACTION})
        return response

    return wrapper


def _absolute(path: str) -> str:
    return f"{settings.PORTAL_BASE_URL}{path}"


def _overview_url(request) -> str:
    return reverse("billing:overview", args=[request.workspace.slug])


def _not_configured(request) -> HttpResponse:
    messages.error(request, NOT_CONFIGURED)
    return redirect(_overview_url(request))


@require_GET
@workspace_view(role=Role.ADMIN)
@vary_on_headers("HX-Request")
@allows_stripe_redirects
def overview(request: WorkspaceRequest) -> HttpResponse:
    context = selectors.usage_summary(workspace=request.workspace)
    account = context["account"]
    context["stripe_enabled"] = settings.STRIPE_ENABLED
    # Back from Checkout: the plan changes when Stripe's webhook confirms the subscription.
    context["checkout"] = request.GET.get("checkout") if account.plan != Plan.PRO else None
    context["estimate"] = None
    context["estimate_error"] = False
    if settings.STRIPE_ENABLED and account.plan == Plan.PRO and account.stripe_subscription_id:
        try:
            context["estimate"] = stripe_api.invoice_preview(
                customer=account.stripe_customer_id, subscription=account.stripe_subscription_id
            )
        except stripe.StripeError:
            logger.exception("invoice preview failed for workspace %s", request.workspace.pk)
            context["estimate_error"] = True
    return render(request, "billing/overview.html", context)


@require_http_methods(["GET", "POST"])
@workspace_view(role=Role.ADMIN)
@vary_on_headers("HX-Request")
@allows_stripe_redirects
def upgrade(request: WorkspaceRequest) -> HttpResponse:
    """The UPGRADE wizard: the terms step, then a Checkout Session (subscription mode)."""
    template = "billing/upgrade.html"
    if not settings.STRIPE_ENABLED:
        if request.method == "POST":
            return _not_configured(request)
        return render_fragment_or_page(
            request, template, "upgrade-dialog", {"stripe_enabled": False, "form": None}
        )
    account = services.billing_account_ensure(workspace=request.workspace)
    if account.plan == Plan.PRO or account.subscription_status in webhooks.PAID_STATUSES:
        messages.info(request, "This workspace is already on the Pro plan.")
        return redirect(_overview_url(request))
    form = TermsForm(request.POST if request.method == "POST" else None)
    if request.method == "GET" or not form.is_valid():
        status = 422 if request.method == "POST" else 200
        return render_fragment_or_page(
            request, template, "upgrade-dialog", {"stripe_enabled": True, "form": form}, status
        )
    overview_url = _absolute(_overview_url(request))
    try:
        customer = stripe_api.customer_ensure(account=account, email=request.user.email)
        url = stripe_api.checkout_session_create(
            account=account,
            customer=customer,
            success_url=f"{overview_url}?checkout=success",
            cancel_url=f"{overview_url}?checkout=cancelled",
        )
    except stripe.StripeError:
        logger.exception("checkout failed for workspace %s", request.workspace.pk)
        messages.error(request, STRIPE_DOWN)
        return redirect(_overview_url(request))
    audit_log(
        actor=request.user, action="billing.checkout_start", workspace=request.workspace, target=account
    )
    return redirect(url)


@require_GET
@workspace_view(role=Role.ADMIN)
@vary_on_headers("HX-Request")
@allows_stripe_redirects
def billing_info(request: WorkspaceRequest) -> HttpResponse:
    """ "My billing info": the Stripe customer and their payment methods."""
    account = selectors.billing_account_get(workspace=request.workspace)
    context = {"stripe_enabled": settings.STRIPE_ENABLED, "customer": None, "methods": [], "error": False}
    if settings.STRIPE_ENABLED and account.stripe_customer_id:
        try:
            context["customer"] = stripe_api.customer_get(customer=account.stripe_customer_id)
            context["methods"] = stripe_api.payment_methods_list(customer=account.stripe_customer_id)
        except stripe.StripeError:
            logger.exception("billing info failed for workspace %s", request.workspace.pk)
            context["error"] = True
    return render_fragment_or_page(request, "billing/billing_info.html", "billing-info-dialog", context)


@require_POST
@workspace_view(role=Role.ADMIN)
def payment_methods(request: WorkspaceRequest) -> HttpResponse:
    """ "Update payment methods": a Billing Portal session."""
    if not settings.STRIPE_ENABLED:
        return _not_configured(request)
    account = services.billing_account_ensure(workspace=request.workspace)
    try:
        customer = stripe_api.customer_ensure(account=account, email=request.user.email)
        url = stripe_api.portal_session_create(
            customer=customer, return_url=_absolute(_overview_url(request))
        )
    except stripe.StripeError:
        logger.exception("billing portal failed for workspace %s", request.workspace.pk)
        messages.error(request, STRIPE_DOWN)
        return redirect(_overview_url(request))
    return redirect(url)


def _invoices(request) -> tuple[list, bool]:
    account = selectors.billing_account_get(workspace=request.workspace)
    if not (settings.STRIPE_ENABLED and account.stripe_customer_id):
        return [], False
    try:
        return stripe_api.invoices_list(customer=account.stripe_customer_id), False
    except stripe.StripeError:
        logger.exception("invoice list failed for workspace %s", request.workspace.pk)
        return [], True


@require_GET
@workspace_view(role=Role.ADMIN)
@vary_on_headers("HX-Request")
def invoices(request: WorkspaceRequest) -> HttpResponse:
    """ "My invoices": the PAYMENT HISTORY dialog."""
    items, error = _invoices(request)
    context = {"stripe_enabled": settings.STRIPE_ENABLED, "invoices": items, "error": error}
    return render_fragment_or_page(request, "billing/invoices.html", "invoices-dialog", context)


@require_POST
@workspace_view(role=Role.ADMIN)
def invoices_email(request: WorkspaceRequest) -> HttpResponse:
    """ "EMAIL INVOICES": the payment history, with links, to the requesting administrator."""
    if not settings.STRIPE_ENABLED:
        return _not_configured(request)
    items, error = _invoices(request)
    if error:
        messages.error(request, STRIPE_DOWN)
        return redirect(_overview_url(request))
    body = render_to_string(
        "billing/invoices_email.txt",
        {"workspace": request.workspace, "invoices": items, "user": request.user},
    )
    send_mail(
        f"Your invoices for {request.workspace.name}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [request.user.email],
    )
    audit_log(
        actor=request.user,
        action="billing.invoices_email",
        workspace=request.workspace,
        target_label=request.user.email,
    )
    messages.success(request, f"{len(items)} invoice(s) sent to {request.user.email}.")
    return redirect(_overview_url(request))


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe events; the signature (STRIPE_WEBHOOK_SECRET) is the authentication."""
    if not settings.STRIPE_ENABLED:
        return HttpResponse(status=404)
    try:
        event = stripe.Webhook.construct_event(
            request.body, request.headers.get("Stripe-Signature", ""), settings.STRIPE_WEBHOOK_SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest("invalid payload or signature")
    webhooks.event_handle(event.to_dict())
    return HttpResponse(status=200)
