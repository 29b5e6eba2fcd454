"""The SVG figures: well-formed XML, text escaped, claims and flags drawn where they belong."""

from xml.etree import ElementTree

from reports import figures

SVG = "{http://www.w3.org/2000/svg}"


def test_the_forest_plot_is_valid_svg_with_one_row_per_label_and_the_claims():
    rows = [
        {
            "name": "Pneumothorax <&>",
            "n": 126,
            "value": 0.6,
            "low": 0.5,
            "high": 0.7,
            "claim": 0.9,
            "flag": True,
        },
        {
            "name": "Effusion",
            "n": 120,
            "value": 0.8,
            "low": 0.7,
            "high": 0.9,
            "claim": 0.85,
            "flag": False,
        },
        {"name": "Unread", "n": 0, "value": None, "low": None, "high": None, "claim": None},
    ]
    root = ElementTree.fromstring(figures.forest_plot(rows))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Pneumothorax <&> (n=126)" in texts and "not read yet" in texts
    assert len(list(root.iter(f"{SVG}circle"))) == 3  # two estimates + the legend
    flagged = [t for t in root.iter(f"{SVG}text") if t.text == "Pneumothorax <&> (n=126)"][0]
    assert flagged.get("fill") == figures.FLAG
    diamonds = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == figures.CLAIM]
    assert len(diamonds) == 3  # two claims + the legend


def test_the_heatmap_is_symmetric_and_grey_where_undefined():
    names = ["alice", "bob", "carol"]
    values = [[None, 0.5, None], [0.5, None, -0.2], [None, -0.2, None]]
    root = ElementTree.fromstring(figures.heatmap(names, values, "kappa"))
    cells = list(root.iter(f"{SVG}rect"))
    assert len(cells) == 6  # no diagonal
    fills = [cell.get("fill") for cell in cells]
    assert fills.count("#333333") == 2  # alice-carol both ways
    assert int(root.get("width")) >= 7 * len("kappa")
