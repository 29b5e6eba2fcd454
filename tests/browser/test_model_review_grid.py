"""A model-review grid in a real Chromium: the question, each tile's cell, verdicts recorded."""

import pytest
from playwright.sync_api import expect

from annotation.models import Mark
from annotation.services import build_sample_set
from datasets.predictions import upload_predictions
from reports.model_audit import create_model_review
from tests.modelaudit.conftest import build_synthetic, write_wide


@pytest.fixture
def drain_model(live_server, tmp_path):
    """The synthetic dataset of tests/modelaudit and the drain model's predictions."""
    synthetic = build_synthetic()
    path = write_wide(tmp_path / "drain_model.csv", synthetic)
    return synthetic, upload_predictions(dataset=synthetic.dataset, name="drain", path=path).run


def test_a_model_review_grid_shows_the_cell_and_records_verdicts(login, page, drain_model, reader):
    synthetic, drain_run = drain_model
    audit = create_model_review(
        run=drain_run, name="Drain check", labels=[synthetic.pneumothorax], per_cell=9,
        grid_size=18, readers=[reader], build=False,
    )  # fmt: skip
    build_sample_set(audit=audit)
    samples = list(audit.samples.order_by("position"))
    login(reader, page)
    page.goto(f"/audits/{audit.pk}/labels/{synthetic.pneumothorax.pk}/grids/1/")
    expect(page.locator(".grid-question")).to_contain_text("Is Pneumothorax present?")
    first = page.locator(f'.tile[data-sample-id="{samples[0].pk}"]')
    expect(first.locator(".tile-cell")).to_have_text("TP")
    expect(first.locator(".tile-cell")).to_have_attribute("title", "model's true positive")
    tenth = page.locator(f'.tile[data-sample-id="{samples[9].pk}"]')
    expect(tenth.locator(".tile-cell")).to_have_text("FP")
    page.keyboard.press("1")  # the first tile: present
    page.keyboard.press("ArrowRight")
    page.keyboard.press("3")  # the second: absent
    expect(first).to_have_attribute("data-verdict", "green")
    second = page.locator(f'.tile[data-sample-id="{samples[1].pk}"]')
    expect(second).to_have_attribute("data-verdict", "red")
    expect(second).to_have_attribute("data-saved", "true")
    expect(first).to_have_attribute("data-saved", "true")
    page.reload()
    expect(first).to_have_attribute("data-verdict", "green")
    assert dict(Mark.objects.filter(reader=reader).values_list("sample_id", "verdict")) == {
        samples[0].pk: "green",
        samples[1].pk: "red",
    }
