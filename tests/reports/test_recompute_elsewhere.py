"""The JSON report holds what is needed to recompute its figures elsewhere: its raw matrices,
fed to independent implementations (the krippendorff package, scikit-learn, statsmodels), give
the figures it reports."""

import json

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from annotation.models import Sample
from reports import aggregation, exports
from tests.reports.conftest import bulk_marks

pytestmark = pytest.mark.django_db


def test_the_json_matrices_reproduce_the_reported_agreement(
    audit, reader, other_reader, third_reader
):
    rng = np.random.default_rng(11)
    verdicts = {}
    for sample in Sample.objects.filter(audit=audit):
        for user in (reader, other_reader, third_reader):
            if rng.random() < 0.9:
                verdicts[(sample.pk, user.pk)] = rng.choice(["green", "green", "orange", "red"])
    bulk_marks(verdicts)
    aggregation.aggregate(audit)
    snapshot = aggregation.Snapshot.objects.get()
    report = json.loads(exports.to_json(snapshot))
    for label in report["results"]["labels"]:
        raw = report["matrices"]["labels"][str(label["id"])]
        matrix = np.array(raw["ratings"], dtype=float)  # None -> nan
        three = label["agreement"]["three_level"]
        alpha = krippendorff.alpha(matrix, level_of_measurement="ordinal", value_domain=[0, 1, 2])
        assert three["krippendorff_ordinal"]["value"] == pytest.approx(alpha, abs=1e-9)
        alpha = krippendorff.alpha(matrix, level_of_measurement="nominal", value_domain=[0, 1, 2])
        assert three["krippendorff_nominal"]["value"] == pytest.approx(alpha, abs=1e-9)
        complete = matrix[:, ~np.isnan(matrix).any(axis=0)]
        table, _ = aggregate_raters(complete.T.astype(int), n_cat=3)
        assert three["fleiss"]["value"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
        readers = raw["readers"]
        for pair in label["pairs"]:
            a, b = matrix[readers.index(pair["a"])], matrix[readers.index(pair["b"])]
            both = ~np.isnan(a) & ~np.isnan(b)
            expected = cohen_kappa_score(a[both], b[both], weights="linear", labels=[0, 1, 2])
            assert pair["kappa_linear"]["value"] == pytest.approx(expected, abs=1e-9)
        consensus = raw["consensus"]
        green = sum(1 for v in consensus if v == "green")
        assert label["consensus"]["green"] == green
