"""The permission matrix: every URL of the project, every role, on its own audit (A), on an
object of the same audit or dataset that is not its own, and on another audit (B).

One table (ROUTES) says what each role gets from each route; the walk asserts it and a second
test fails when a route exists that the table does not list. A new route: add its row.

Outcomes are about reach, not behaviour: "ok" = served (2xx, a redirect that is not to a log-in
page, or 400/409 on a deliberately empty form), "404" = out of reach (its existence hidden),
"403" = within reach but not this role's action, "login" = asks to log in (302 to a log-in page
for HTML, 401/403 for the API).

The world: audit A on dataset DA (readers alice and bob, researcher rhea, adjudicator judy; maria
maintains DA); audit B on dataset DB (reader carol; otto maintains DB); admin; mallory, an
outsider. Each request runs in a rolled-back savepoint, so no request changes what the next sees.
"""

from dataclasses import dataclass
from itertools import combinations

import pytest
from django.db import transaction
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

ACTORS = (
    "anon",
    "outsider",
    "reader",
    "researcher",
    "adjudicator",
    "maintainer",
    "other_maintainer",
    "admin",
)

# Scopes of each kind of URL argument, in order: own (A), same (A or DA, not the actor's own or
# not in A's sample set), other (B).
SCOPES = {
    "none": ("any",),
    "audit": ("A", "B"),
    "grid": ("A", "B"),
    "sample": ("A", "B"),
    "image": ("A", "DA-unsampled", "B"),
    "dataset": ("DA", "DB"),
    "audit_member": ("A", "B"),
    "dataset_member": ("DA", "DB"),
    "invitation": ("A", "DA-maintainer", "B"),
    "token": ("valid", "unknown"),
    "snapshot": ("A", "B"),
    "report_download": ("A", "B"),
    "reset_link": ("invalid",),
    "model_run": ("DA", "DB"),  # a model run of the dataset
    "model_audit": ("A", "B"),  # a model review with the people of audit A (B)
}


@dataclass
class Row:
    method: str
    kind: str
    expect: dict[str, tuple[str, ...]]
    data: object = None  # callable(world, scope args) -> request body
    api: bool = False
    query: str = ""


def row(method, kind, *, api=False, data=None, query="", **expect):
    """expect: one value per actor, "ok/404" giving one outcome per scope (one for all)."""
    missing = set(ACTORS) - set(expect)
    assert not missing, f"row lacks {missing}"
    scopes = len(SCOPES[kind])
    parsed = {}
    for actor, text in expect.items():
        outcomes = tuple(text.split("/"))
        parsed[actor] = outcomes * scopes if len(outcomes) == 1 else outcomes
        assert len(parsed[actor]) == scopes, (actor, text)
    return Row(method, kind, parsed, data=data, api=api, query=query)


# Common shapes.
EVERYONE = {actor: "ok" for actor in ACTORS}
SIGNED_IN = {**EVERYONE, "anon": "login"}
# Anyone with a role in A (or managing DA) sees A; otto sees B; admins both.
MEMBERS = dict(
    anon="login",
    outsider="404",
    reader="ok/404",
    researcher="ok/404",
    adjudicator="ok/404",
    maintainer="ok/404",
    other_maintainer="404/ok",
    admin="ok",
)
# Only managers (admins, the dataset's maintainers).
MANAGERS = dict(MEMBERS, reader="404", researcher="404", adjudicator="404", maintainer="ok/404")
# Reading room: readers, and managers (read only).
READERS = dict(MANAGERS, reader="ok/404")
# Writing a mark: readers only; managers reach the audit but may not mark (403).
MARKERS = dict(READERS, maintainer="403/404", other_maintainer="404/403", admin="403")
# Reports of an audit: managers, researchers and adjudicators.
REPORTERS = dict(MANAGERS, researcher="ok/404", adjudicator="ok/404")
ADMINS = {**{actor: "404" for actor in ACTORS}, "anon": "login", "admin": "ok"}
# Adjudication: the audit's adjudicators and its managers.
ADJUDICATORS = dict(MANAGERS, adjudicator="ok/404")
# Reports of a blinded audit still being read: researchers and managers, not its readers (nor
# its adjudicator, who works in the adjudication pages).
REPORT_READERS = dict(MANAGERS, researcher="ok/404")
# Within reach of every member, but a managers' action (403 for the others in the audit).
MANAGERS_ACT = dict(MEMBERS, reader="403/404", researcher="403/404", adjudicator="403/404")
# Tiles: a member of an audit sees its sampled images; a maintainer every image of the
# dataset (own = sampled in A, same = in A's dataset but not sampled, other = sampled in B).
TILES = dict(
    MEMBERS,
    reader="ok/404/404",
    researcher="ok/404/404",
    adjudicator="ok/404/404",
    maintainer="ok/ok/404",
    other_maintainer="404/404/ok",
)


def invite_body(world, args):
    return {"email": "matrix@example.org", "role": "reader", "audit": args["audit_id"]}


ROUTES: dict[str, list[Row]] = {
    # config
    "home": [row("GET", "none", **SIGNED_IN)],
    "login": [row("GET", "none", **EVERYONE)],
    # Logging out lands on the log-in page.
    "logout": [row("POST", "none", **{actor: "login" for actor in ACTORS})],
    # datasets
    "datasets:detail": [row("GET", "dataset", **MEMBERS)],
    "datasets:thumbnail": [row("GET", "image", **TILES)],
    "datasets:viewer": [row("GET", "image", **TILES)],
    "datasets:rendition": [row("GET", "image", **TILES)],
    # Relabeled export and version comparison: the dataset's managers.
    "datasets:export": [row("GET", "dataset", **MANAGERS)],
    "datasets:export_download": [row("GET", "dataset", **MANAGERS)],
    "datasets:compare": [row("GET", "dataset", query="?with={slug}", **MANAGERS)],
    "api-datasets": [row("GET", "none", api=True, **SIGNED_IN)],
    "api-dataset": [row("GET", "dataset", api=True, **MEMBERS)],
    "api-dataset-labels": [row("GET", "dataset", api=True, **MEMBERS)],
    # annotation: audits and the reading room
    "annotation:audit_create": [
        row("GET", "none", **dict(ADMINS, maintainer="ok", other_maintainer="ok"))
    ],
    "annotation:sample_size_hint": [row("GET", "none", **SIGNED_IN)],
    "annotation:audit": [row("GET", "audit", **MEMBERS)],
    "annotation:continue": [row("GET", "audit", **READERS)],
    "annotation:grid": [row("GET", "grid", **READERS)],
    "annotation:grid_green": [row("POST", "grid", **MARKERS)],
    "annotation:grid_time": [row("POST", "grid", **READERS)],
    "annotation:mark": [row("POST", "sample", **MARKERS)],
    # Adjudication (relabel).
    "annotation:adjudication": [row("GET", "audit", **ADJUDICATORS)],
    "annotation:adjudication_rule": [row("POST", "audit", **MANAGERS_ACT)],
    "annotation:adjudication_grid": [row("GET", "grid", **ADJUDICATORS)],
    "annotation:adjudication_time": [row("POST", "audit", **ADJUDICATORS)],
    "annotation:adjudicate": [
        row(
            "POST",
            "sample",
            **dict(ADJUDICATORS, maintainer="403/404", other_maintainer="404/403", admin="403"),
        )
    ],
    "annotation:reads_import": [row("GET", "audit", **MANAGERS), row("POST", "audit", **MANAGERS)],
    # Reports.
    "reports:dashboard": [row("GET", "audit", **REPORT_READERS)],
    "reports:readers": [row("GET", "audit", **REPORT_READERS)],
    "reports:agreement": [row("GET", "audit", **REPORT_READERS)],
    "reports:recompute": [row("POST", "audit", **REPORT_READERS)],
    "reports:download": [row("GET", "report_download", **REPORT_READERS)],
    "reports:reference_accuracy": [row("GET", "dataset", **MANAGERS)],
    "reports_api:latest": [row("GET", "audit", api=True, **REPORT_READERS)],
    "reports_api:snapshots": [row("GET", "audit", api=True, **REPORT_READERS)],
    "reports_api:download": [row("GET", "report_download", api=True, **REPORT_READERS)],
    "reports_api:recompute": [row("POST", "audit", api=True, **REPORT_READERS)],
    # Operations: the load balancer's health check, public (it names no data).
    "healthz": [row("GET", "none", query="?check=database", **EVERYONE)],
    "api:audits": [row("GET", "none", api=True, **SIGNED_IN)],
    "api:audit": [row("GET", "audit", api=True, **MEMBERS)],
    "api:grid": [row("GET", "grid", api=True, **READERS)],
    "api:mark": [
        row("GET", "sample", api=True, **MARKERS),
        row("PUT", "sample", api=True, **MARKERS),
    ],
    # access: people, invitations, the audit log, tokens
    "access:accept": [
        row("GET", "token", **{actor: "ok/404" for actor in ACTORS}),
        # Only the invited address's account joins; anyone else logged in is refused.
        row("POST", "token", **{**{actor: "403/404" for actor in ACTORS}, "anon": "ok/404"}),
    ],
    "access:audit_people": [
        row("GET", "audit", **MANAGERS),
        row("POST", "audit", **MANAGERS),
    ],
    "access:audit_member_remove": [row("POST", "audit_member", **MANAGERS)],
    "access:dataset_people": [
        row("GET", "dataset", **MANAGERS),
        # Only an admin invites maintainers.
        row("POST", "dataset", **dict(MANAGERS, maintainer="404", other_maintainer="404")),
    ],
    "access:dataset_maintainer_remove": [row("POST", "dataset_member", **ADMINS)],
    "access:invitation_resend": [
        row(
            "POST",
            "invitation",
            **dict(MANAGERS, maintainer="ok/404/404", other_maintainer="404/404/ok"),
        )
    ],
    "access:invitation_revoke": [
        row(
            "POST",
            "invitation",
            **dict(MANAGERS, maintainer="ok/404/404", other_maintainer="404/404/ok"),
        )
    ],
    "access:audit_log": [row("GET", "none", **ADMINS)],
    "access:password_change": [row("GET", "none", **SIGNED_IN)],
    "access:password_changed": [row("GET", "none", **SIGNED_IN)],
    "access:password_reset": [row("GET", "none", **EVERYONE), row("POST", "none", **EVERYONE)],
    "access:password_reset_sent": [row("GET", "none", **EVERYONE)],
    "access:password_reset_confirm": [row("GET", "reset_link", **EVERYONE)],
    "access:password_reset_complete": [row("GET", "none", **EVERYONE)],
    "access:api_token": [row("GET", "none", **SIGNED_IN), row("POST", "none", **SIGNED_IN)],
    "api-invitations": [
        # Lists only what the user manages (empty for the others: see test_api).
        row("GET", "none", api=True, **SIGNED_IN),
        row("POST", "audit", api=True, data=invite_body, **MANAGERS),
    ],
    "api-invitation": [
        row(
            method,
            "invitation",
            api=True,
            **dict(MANAGERS, maintainer="ok/404/404", other_maintainer="404/404/ok"),
        )
        for method in ("GET", "DELETE")
    ],
    "api-invitation-resend": [
        row(
            "POST",
            "invitation",
            api=True,
            **dict(MANAGERS, maintainer="ok/404/404", other_maintainer="404/404/ok"),
        )
    ],
    "api-events": [row("GET", "none", api=True, **SIGNED_IN)],
    "api-schema": [row("GET", "none", api=True, **SIGNED_IN)],
    "api-docs": [row("GET", "none", api=True, **SIGNED_IN)],
    "api-redoc": [row("GET", "none", api=True, **SIGNED_IN)],
    # modelaudit: model runs (managers), reports of an audit (managers, researchers,
    # adjudicators; never a plain reader), sample-size planning (anyone signed in).
    "model_audits:runs": [row("GET", "dataset", **MANAGERS), row("POST", "dataset", **MANAGERS)],
    "model_audits:run": [
        row("GET", "model_run", **MANAGERS),
        row("POST", "model_run", **MANAGERS),
    ],
    "model_audits:run_delete": [row("POST", "model_run", **MANAGERS)],
    **{
        name: [row("GET", kind, **REPORTERS)]
        for name in ("model_audits:report", "model_audits:strata", "model_audits:controls")
        for kind in ("model_audit",)
    },
    "model_audits:sample_size": [row("GET", "none", api=True, **SIGNED_IN)],
    # The Django admin: staff only (its own log-in page for everyone else).
    "admin:index": [row("GET", "none", **dict(ADMINS, **{a: "login" for a in ACTORS[:7]}))],
}

# Whole namespaces answered by one row above: the Django admin guards every page of its own
# with the staff check that admin:index exercises.
COVERED_NAMESPACES = {"admin": "admin:index"}


def _names(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield (
                f"{namespace}{pattern.name}"
                if pattern.name
                else f"{namespace}<unnamed {pattern.pattern}>"
            )


def test_every_route_of_the_project_is_in_the_matrix():
    missing = []
    for name in sorted(set(_names(get_resolver().url_patterns))):
        if name.split(":")[0] in COVERED_NAMESPACES:
            continue
        if name not in ROUTES:
            missing.append(name)
    assert not missing, f"routes missing from ROUTES in {__file__}: {missing}"
    stale = set(ROUTES) - set(_names(get_resolver().url_patterns))
    assert not stale, f"ROUTES lists routes that no longer exist: {stale}"


def _outcome(response, api: bool) -> str:
    code = response.status_code
    if code in (401, 403) and api:
        # DRF answers 403 both to a forbidden action and to a missing log-in.
        return "login" if response.wsgi_request.user.is_anonymous else "403"
    if code == 302 and "login" in response.get("Location", ""):
        return "login"
    if code in (200, 201, 204, 301, 302, 400, 409, 410):
        return "ok"
    return str(code)


def _request(client, method, url, body, api):
    if api:
        return getattr(client, method.lower())(url, body or {}, content_type="application/json")
    return getattr(client, method.lower())(url, body or {})


@pytest.mark.django_db
def test_the_whole_matrix(client, world):
    failures = []
    checked = 0
    for name, rows in ROUTES.items():
        for spec in rows:
            for actor in ACTORS:
                user = world["users"][actor]
                if user is None:
                    client.logout()
                else:
                    client.force_login(user)
                for scope, expected in zip(SCOPES[spec.kind], spec.expect[actor], strict=True):
                    args = world["args"][spec.kind][scope]
                    url = _reverse(name, args) + spec.query.format(**args)
                    body = spec.data(world, args) if spec.data else None
                    with transaction.atomic():
                        response = _request(client, spec.method, url, body, spec.api)
                        transaction.set_rollback(True)
                    got = _outcome(response, spec.api)
                    checked += 1
                    if got != expected:
                        failures.append(
                            f"{spec.method} {name} [{scope}] as {actor}: expected {expected}, "
                            f"got {got} ({response.status_code})"
                        )
    assert not failures, f"{len(failures)} of {checked} cells differ:\n" + "\n".join(failures)
    assert checked > 500


def _reverse(name, args):
    """reverse() with those of the scope's arguments that the route takes."""
    keys = list(args)
    for size in range(len(keys), -1, -1):
        for chosen in combinations(keys, size):
            try:
                return reverse(name, kwargs={key: args[key] for key in chosen})
            except NoReverseMatch:
                continue
    raise AssertionError(f"cannot build {name} from {args}")
