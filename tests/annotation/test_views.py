"""The reading room's pages and its mark endpoint, through Django's test client: who may do
what, what a tile answers, the grid's query count, and the marks_changed hook."""

import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import services
from annotation.models import Audit, Mark
from annotation.services import mark_set
from tests.annotation.conftest import first_grid, make_audit, wait_until_built

pytestmark = pytest.mark.django_db


def grid_url(audit, label, number=1):
    return f"/audits/{audit.pk}/labels/{label.pk}/grids/{number}/"


def post_mark(client, sample, htmx=True, **data):
    data.setdefault("idempotency_key", f"key-{sample.pk}-{data.get('verdict')}")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/samples/{sample.pk}/mark/", data, headers=headers)


@pytest.fixture
def alice(client, reader):
    client.force_login(reader)
    return client


def test_a_reader_marks_a_tile_and_gets_the_saved_tile_back(alice, audit, reader):
    _, samples = first_grid(audit)
    response = post_mark(alice, samples[0], verdict="orange")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-sample-id="{samples[0].pk}"' in html
    assert 'data-verdict="orange"' in html and 'data-saved="true"' in html
    assert Mark.objects.get(reader=reader).verdict == "orange"


def test_without_javascript_a_mark_redirects_back_to_the_grid(alice, audit):
    label, samples = first_grid(audit)
    response = post_mark(alice, samples[0], htmx=False, verdict="red", next=grid_url(audit, label))
    assert response.status_code == 302 and response["Location"] == grid_url(audit, label)
    evil = post_mark(alice, samples[1], htmx=False, verdict="red", next="https://evil.example/")
    assert evil["Location"] == grid_url(audit, label)


def test_a_bad_verdict_or_a_foreign_tag_is_refused_with_a_reason(alice, audit, small_dataset):
    _, samples = first_grid(audit)
    response = post_mark(alice, samples[0], verdict="purple")
    assert response.status_code == 400 and b"purple" in response.content
    other = make_audit(small_dataset, [], name="Other")
    foreign = other.tags.first().pk
    response = post_mark(alice, samples[0], tags=[foreign], tags_sent="1")
    assert response.status_code == 400 and b"tags" in response.content
    assert not Mark.objects.exists()


def test_an_outsider_gets_404_and_a_manager_who_does_not_read_gets_403(
    client, audit, outsider, maintainer
):
    _, samples = first_grid(audit)
    client.force_login(outsider)
    assert post_mark(client, samples[0], verdict="green").status_code == 404
    assert post_mark(client, samples[0].__class__(pk=10**9), verdict="green").status_code == 404
    client.force_login(maintainer)
    assert post_mark(client, samples[0], verdict="green").status_code == 403
    assert not Mark.objects.exists()


def test_a_closed_audit_shows_its_grids_read_only_and_refuses_marks(alice, audit, reader):
    label, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=reader, idempotency_key="k", verdict="green")
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.CLOSED)
    page = alice.get(grid_url(audit, label)).content.decode()
    assert "read only" in page and 'class="v v-green"' not in page
    assert 'data-verdict="green"' in page
    assert post_mark(alice, samples[0], verdict="red").status_code == 403
    assert Mark.objects.get().verdict == "green"


def test_a_manager_reads_the_grid_without_mark_buttons(client, audit, maintainer):
    label, _ = first_grid(audit)
    client.force_login(maintainer)
    page = client.get(grid_url(audit, label)).content.decode()
    assert page.count('class="tile ') == 18
    assert 'class="v v-green"' not in page and "read only" in page


def test_grids_that_do_not_exist_are_404(alice, audit, outsider, client):
    label, _ = first_grid(audit)
    assert alice.get(grid_url(audit, label, 3)).status_code == 404
    assert alice.get(grid_url(audit, label, 0)).status_code == 404
    assert alice.get(f"/audits/{audit.pk}/labels/999999/grids/1/").status_code == 404
    client.force_login(outsider)
    assert client.get(grid_url(audit, label)).status_code == 404


def test_the_grid_shows_the_readers_own_marks_only_in_a_blinded_audit(
    alice, audit, reader, other_reader
):
    label, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=other_reader, idempotency_key="b", verdict="red")
    mark_set(sample=samples[1], reader=reader, idempotency_key="a", verdict="green")
    page = alice.get(grid_url(audit, label)).content.decode()
    assert re.findall(r'data-verdict="(\w*)"', page) == ["", "green"] + [""] * 16
    assert "tile-others" not in page


def test_an_open_audit_counts_the_other_readers_verdicts_on_each_tile(
    client, open_audit, reader, other_reader
):
    label, samples = first_grid(open_audit)
    mark_set(sample=samples[0], reader=other_reader, idempotency_key="b", verdict="red")
    client.force_login(reader)
    page = client.get(grid_url(open_audit, label)).content.decode()
    assert '<span class="o-red">1</span>' in page


def _grid_queries(client, audit, label):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(grid_url(audit, label)).status_code == 200
    return len(queries)


def test_the_grid_page_runs_the_same_few_queries_whatever_its_size_and_marks(
    client, small_dataset, reader, other_reader
):
    client.force_login(reader)
    counts = []
    for size in (6, 18):
        audit = make_audit(small_dataset, [reader, other_reader], grid_size=size, name=f"{size}")
        label, samples = first_grid(audit)
        counts.append(_grid_queries(client, audit, label))
        tags = list(audit.tags.values_list("pk", flat=True))
        for sample in samples:
            for who in (reader, other_reader):
                mark_set(
                    sample=sample,
                    reader=who,
                    idempotency_key=f"{sample.pk}-{who.pk}",
                    verdict="red",
                    tags=tags[:3],
                    note="n",
                )
        counts.append(_grid_queries(client, audit, label))
    assert len(set(counts)) == 1, counts
    assert counts[0] <= 12


def test_a_mark_runs_a_handful_of_queries(alice, audit, reader):
    _, samples = first_grid(audit)
    post_mark(alice, samples[0], verdict="green")
    with CaptureQueriesContext(connection) as queries:
        post_mark(alice, samples[0], verdict="red")
    statements = [q["sql"].split()[0] for q in queries]
    writes = [s for s in statements if s in ("INSERT", "UPDATE", "DELETE")]
    assert writes == ["UPDATE", "INSERT"], statements  # the mark, its history row
    assert len(queries) <= 10, statements


def test_marks_changed_runs_once_per_committed_change_and_never_for_a_repeat(
    audit, reader, django_capture_on_commit_callbacks
):
    label, samples = first_grid(audit)
    with mock.patch.object(services, "marks_changed") as hook:
        with django_capture_on_commit_callbacks(execute=True):
            mark_set(sample=samples[0], reader=reader, idempotency_key="a", verdict="green")
        assert hook.call_args_list == [mock.call(audit.pk)]
        with django_capture_on_commit_callbacks(execute=True):
            mark_set(sample=samples[0], reader=reader, idempotency_key="a", verdict="green")
            mark_set(sample=samples[0], reader=reader, idempotency_key="b", verdict="green")
        assert hook.call_count == 1  # a repeated key and a no-change request
        with django_capture_on_commit_callbacks(execute=True):
            services.mark_all_unmarked_green(
                audit=audit, label=label, grid=0, reader=reader, idempotency_key="g"
            )
        assert hook.call_count == 2  # seventeen marks, one call


def test_all_green_by_post_marks_the_unmarked_tiles_and_returns_to_the_grid(alice, audit, reader):
    label, samples = first_grid(audit)
    mark_set(sample=samples[3], reader=reader, idempotency_key="k", verdict="orange")
    response = alice.post(grid_url(audit, label) + "all-green/", {"idempotency_key": "all-1"})
    assert response.status_code == 302 and response["Location"] == grid_url(audit, label)
    verdicts = dict(Mark.objects.filter(reader=reader).values_list("sample_id", "verdict"))
    assert verdicts.pop(samples[3].pk) == "orange"
    assert sorted(verdicts) == sorted(s.pk for s in samples if s != samples[3])
    assert set(verdicts.values()) == {"green"}


def test_time_on_a_grid_is_recorded_for_its_reader(alice, audit, reader):
    label, _ = first_grid(audit)
    url = grid_url(audit, label) + "time/"
    assert alice.post(url, {"seconds": "42.5"}).status_code == 204
    assert alice.post(url, {"seconds": "soon"}).status_code == 400
    visit = audit.grid_visits.get()
    assert (visit.reader, visit.grid, visit.seconds) == (reader, 0, 42.5)


def test_continue_goes_to_the_first_unfinished_grid_or_says_all_are_marked(alice, audit, reader):
    label, samples = first_grid(audit)
    response = alice.get(f"/audits/{audit.pk}/continue/")
    assert response["Location"] == grid_url(audit, label)
    for sample in audit.samples.all():
        mark_set(sample=sample, reader=reader, idempotency_key=f"k{sample.pk}", verdict="green")
    response = alice.get(f"/audits/{audit.pk}/continue/", follow=True)
    page = response.content.decode()
    assert "Every grid of Audit is marked." in page
    assert page.count('class="done"') == 4 and "4 of 4 grids" in page


def test_the_build_partial_polls_while_building_and_reloads_the_page_when_ready(
    client, admin_user, small_dataset
):
    audit = services.create_audit(dataset=small_dataset, name="B", build=False)
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.BUILDING, build_done=3)
    client.force_login(admin_user)
    url = f"/audits/{audit.pk}/?part=build"
    part = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in part and "labels drawn 3 of 15" in part
    services.build_sample_set(audit=audit)
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.headers.get("HX-Refresh") == "true"


def test_the_sample_size_hint_matches_statsmodels_wilson(client, admin_user):
    from statsmodels.stats.proportion import proportion_confint

    client.force_login(admin_user)
    page = client.get("/audits/sample-size/", {"per_label": "126"}).content.decode()
    for successes, at in ((63, "50%"), (100.8, "80%")):
        low, high = proportion_confint(successes, 126, method="wilson")
        assert f"±{100 * (high - low) / 2:.1f} points at {at}" in page


def _audit_form(small_dataset, **changes):
    return {
        "dataset": small_dataset.pk,
        "name": "Form audit",
        "per_label": "12",
        "grid_size": "6",
        "seed": "5",
        "one_per_patient": "on",
        "blinded": "on",
        "readers": "",
        "tags": "chest drain = d\nsternal wires = s\nartefact",
        **changes,
    }


@pytest.mark.django_db(transaction=True)
def test_the_audit_form_takes_its_tag_vocabulary(client, admin_user, small_dataset, task_runner):
    client.force_login(admin_user)
    response = client.post("/audits/new/", _audit_form(small_dataset))
    assert response.status_code == 302
    audit = Audit.objects.get(name="Form audit")
    assert list(audit.tags.values_list("name", "shortcut")) == [
        ("chest drain", "d"),
        ("sternal wires", "s"),
        ("artefact", ""),
    ]
    assert wait_until_built(audit).status == Audit.Status.READY


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("drain = g", "grid keys"),
        ("drain = x\nwires = x", "share a keyboard shortcut"),
        ("drain = d\nDrain = e", "distinct"),
        (" = d", "line 1: a tag needs a name"),
    ],
)
def test_the_audit_form_refuses_a_bad_tag_vocabulary(
    client, admin_user, small_dataset, tags, message
):
    client.force_login(admin_user)
    response = client.post("/audits/new/", _audit_form(small_dataset, tags=tags))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Audit.objects.exists()


def test_only_admins_and_maintainers_may_create_audits(client, reader):
    client.force_login(reader)
    assert client.get("/audits/new/").status_code == 404
