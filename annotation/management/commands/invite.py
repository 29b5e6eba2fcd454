"""Invite an address from the command line (the first readers of a fresh install, scripts)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from annotation import invitations
from annotation.models import Audit, Invitation
from datasets.models import Dataset


class Command(BaseCommand):
    help = "E-mail an invitation to an audit role (--audit) or to maintain a dataset (--dataset)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", default="reader", choices=Invitation.Role.values)
        parser.add_argument("--audit", type=int, help="audit id (reader, adjudicator, researcher)")
        parser.add_argument("--dataset", help="dataset slug (maintainer)")
        parser.add_argument("--days", type=int, default=None, help="validity (default 7)")

    def handle(self, *args, email, role, audit, dataset, days, **options):
        place = {}
        if audit is not None:
            place["audit"] = Audit.objects.filter(pk=audit).first()
            if place["audit"] is None:
                raise CommandError(f"--audit {audit}: no such audit")
        if dataset is not None:
            place["dataset"] = Dataset.objects.filter(slug=dataset).first()
            if place["dataset"] is None:
                raise CommandError(f"--dataset {dataset}: no such dataset")
        try:
            sent = invitations.invite(
                by=None,
                email=email,
                role=role,
                days=days,
                accept_url=lambda token: settings.SITE_URL + reverse("access:accept", args=[token]),
                **place,
            )
        except invitations.InvitationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Invited {sent.invitation.email} as {role} of {sent.invitation.place} "
            f"(expires {sent.invitation.expires_at:%Y-%m-%d %H:%M} UTC)."
        )
