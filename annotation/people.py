"""People pages (who holds which role, pending invitations), the invitation accept page, the
audit log and the API-token page. Thin views over annotation.invitations."""

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from . import audit_log, invitations
from .access import dataset_for, is_admin, managed_audit_for
from .models import Invitation, Membership
from .people_forms import AcceptForm, InviteForm

AUDIT_INVITE_ROLES = ("reader", "adjudicator", "researcher")


def accept_url_builder(request):
    return lambda token: request.build_absolute_uri(reverse("access:accept", args=[token]))


def _invite(request, form, **place) -> bool:
    if not form.is_valid():
        return False
    try:
        sent = invitations.invite(
            by=request.user,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            accept_url=accept_url_builder(request),
            **place,
        )
    except invitations.InvitationError as error:
        form.add_error(None, str(error))
        return False
    messages.success(request, f"Invitation sent to {sent.invitation.email}.")
    return True


@login_required
def audit_people(request, audit_id):
    audit = managed_audit_for(request.user, audit_id)
    form = InviteForm(request.POST or None, roles=AUDIT_INVITE_ROLES)
    if request.method == "POST" and _invite(request, form, audit=audit):
        return redirect("access:audit_people", audit.pk)
    members: dict[int, dict] = {}
    for membership in Membership.objects.filter(audit=audit).select_related("user"):
        entry = members.setdefault(membership.user_id, {"user": membership.user, "roles": []})
        entry["roles"].append(membership.role)
    return render(
        request,
        "access/people.html",
        {
            "place": audit,
            "audit": audit,
            "members": sorted(members.values(), key=lambda m: m["user"].get_username()),
            "maintainers": audit.dataset.maintainers.order_by("username"),
            "invitations": _invitation_rows(audit.invitations.all()),
            "form": form,
            "events": audit_log.events(audit_id=audit.pk)[:20] if is_admin(request.user) else (),
        },
    )


@login_required
def dataset_people(request, slug):
    dataset = dataset_for(request.user, slug, manage=True)
    admin = is_admin(request.user)
    form = InviteForm(request.POST or None, roles=("maintainer",)) if admin else None
    if request.method == "POST":
        if form is None:
            raise Http404("Only an admin invites maintainers")
        if _invite(request, form, dataset=dataset):
            return redirect("access:dataset_people", dataset.slug)
    return render(
        request,
        "access/people.html",
        {
            "place": dataset,
            "dataset": dataset,
            "maintainers": dataset.maintainers.order_by("username"),
            "audits": dataset.audits.order_by("name"),
            "invitations": _invitation_rows(dataset.invitations.all()),
            "form": form,
            "can_remove_maintainers": admin,
        },
    )


def _invitation_rows(queryset):
    now = timezone.now()
    rows = []
    for invitation in queryset.select_related("invited_by", "accepted_by"):
        invitation.state = invitation.status_at(now)
        rows.append(invitation)
    return rows


def _invitation_for(user, pk: int) -> Invitation:
    invitation = (
        Invitation.objects.select_related("audit__dataset", "dataset").filter(pk=pk).first()
    )
    if invitation is None or not invitations.may_invite(
        user, role=invitation.role, audit=invitation.audit, dataset=invitation.dataset
    ):
        raise Http404("No such invitation")
    return invitation


def _people_url(invitation: Invitation) -> str:
    if invitation.audit_id:
        return reverse("access:audit_people", args=[invitation.audit_id])
    return reverse("access:dataset_people", args=[invitation.dataset.slug])


@require_POST
@login_required
def invitation_resend(request, pk):
    invitation = _invitation_for(request.user, pk)
    try:
        invitations.resend(
            by=request.user, invitation=invitation, accept_url=accept_url_builder(request)
        )
    except invitations.InvitationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Invitation sent again to {invitation.email}.")
    return redirect(_people_url(invitation))


@require_POST
@login_required
def invitation_revoke(request, pk):
    invitation = _invitation_for(request.user, pk)
    try:
        invitations.revoke(by=request.user, invitation=invitation)
    except invitations.InvitationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Invitation of {invitation.email} revoked.")
    return redirect(_people_url(invitation))


@require_POST
@login_required
def audit_member_remove(request, audit_id, user_id):
    audit = managed_audit_for(request.user, audit_id)
    member = get_user_model().objects.filter(pk=user_id, memberships__audit=audit).first()
    if member is None:
        raise Http404("No such member")
    role = request.POST.get("role", "")
    try:
        invitations.remove_role(by=request.user, audit=audit, user=member, role=role)
    except invitations.InvitationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{member.get_username()} is no longer {role} here.")
    return redirect("access:audit_people", audit.pk)


@require_POST
@login_required
def dataset_maintainer_remove(request, slug, user_id):
    dataset = dataset_for(request.user, slug, manage=True)
    member = dataset.maintainers.filter(pk=user_id).first()
    if member is None or not is_admin(request.user):
        raise Http404("No such maintainer")
    invitations.remove_maintainer(by=request.user, dataset=dataset, user=member)
    messages.success(request, f"{member.get_username()} no longer maintains {dataset.name}.")
    return redirect("access:dataset_people", dataset.slug)


def _landing(invitation: Invitation) -> str:
    if invitation.audit_id:
        return reverse("annotation:audit", args=[invitation.audit_id])
    return reverse("datasets:detail", args=[invitation.dataset.slug])


@never_cache
def accept(request, token):
    """The link of the e-mail. Unusable tokens get a page saying why (410 Gone, 404 unknown)."""
    try:
        invitation = invitations.lookup(token)
    except invitations.InvitationUnusable as error:
        status = 404 if error.reason == "unknown" else 410
        return render(
            request,
            "access/invitation_unusable.html",
            {"reason": error.reason, "message": str(error)},
            status=status,
        )
    context = {"invitation": invitation, "token": token}
    if request.user.is_authenticated:
        context["mismatch"] = not invitations.is_invitee(invitation, request.user)
        if request.method == "POST":
            try:
                invitations.accept_with_account(token=token, user=request.user)
            except invitations.InvitationUnusable as error:
                return render(
                    request,
                    "access/invitation_unusable.html",
                    {"reason": error.reason, "message": str(error)},
                    status=410,
                )
            except invitations.InvitationError as error:
                context["error"] = str(error)
                return render(request, "access/accept.html", context, status=403)
            messages.success(request, f"You joined {invitation.place} as {invitation.role}.")
            return redirect(_landing(invitation))
        return render(request, "access/accept.html", context)
    if invitations.existing_account(invitation) is not None:
        context["login_url"] = f"{reverse('login')}?next={request.path}"
        return render(request, "access/accept.html", context)
    form = AcceptForm(request.POST or None, initial={"username": invitation.email.split("@")[0]})
    if request.method == "POST" and form.is_valid():
        try:
            invitation, user = invitations.accept_new_account(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                name=form.cleaned_data["name"],
            )
        except invitations.InvitationUnusable as error:
            return render(
                request,
                "access/invitation_unusable.html",
                {"reason": error.reason, "message": str(error)},
                status=410,
            )
        except invitations.InvitationError as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error("password1" if field == "password" else field, problem)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}.")
            return redirect(_landing(invitation))
    context["form"] = form
    return render(request, "access/accept.html", context)


@login_required
def audit_log_page(request):
    if not is_admin(request.user):
        raise Http404("The audit log is for admins")
    action = request.GET.get("action", "")
    found = audit_log.events(action=action if action in audit_log.ACTIONS else "")
    query = request.GET.get("q", "").strip()
    if query:
        found = found.filter(Q(actor_name__icontains=query) | Q(target__icontains=query))
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "access/audit_log.html",
        {"page": page, "actions": audit_log.ACTIONS, "action": action, "q": query},
    )


@never_cache
@login_required
def api_token(request):
    """Create (or replace) the user's API token; it is shown once, right after creation."""
    token = None
    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        token = Token.objects.create(user=request.user)
        audit_log.record(
            "api_token.created", actor=request.user, target=request.user.get_username()
        )
    has_token = Token.objects.filter(user=request.user).exists()
    return render(
        request,
        "access/api_token.html",
        {"token": token, "has_token": has_token},
    )
