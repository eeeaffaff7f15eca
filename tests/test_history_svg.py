"""The plots artifact's curves: an SVG document written directly, checked as XML."""

from xml.etree import ElementTree

from synaprefect.utils.history_svg import history_svg

SVG = "{http://www.w3.org/2000/svg}"


def parsed(history):
    return ElementTree.fromstring(history_svg(history))


def polylines(svg):
    return [
        [tuple(map(float, point.split(","))) for point in line.get("points").split()]
        for line in svg.iter(f"{SVG}polyline")
    ]


def test_a_line_per_metric_higher_scores_drawn_higher():
    svg = parsed({"reward": [0.2, 0.5, 0.9], "val_reward": [0.3, 0.6, 0.8]})
    reward, val_reward = polylines(svg)
    assert len(reward) == len(val_reward) == 3
    xs = [x for x, _ in reward]
    assert xs == sorted(xs) and [x for x, _ in val_reward] == xs  # epochs left to right
    ys = [y for _, y in reward]
    assert ys == sorted(ys, reverse=True)  # SVG's y grows downwards
    assert len(list(svg.iter(f"{SVG}circle"))) == 6  # a marker per value
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert {"reward", "val_reward", "Epochs", "Scores", "0", "1", "2", "3"} <= set(texts)


def test_a_missing_value_breaks_the_line_and_the_axis_grows_past_one():
    svg = parsed({"loss": [2.0, None, float("nan"), 1.2, 0.8]})
    assert [len(line) for line in polylines(svg)] == [1, 2]
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert "2" in texts and "0" in texts  # ticks up to the largest value


def test_metric_names_are_escaped_and_long_ones_cut():
    long_name = "val_" + "very_long_metric_name_" * 3
    svg = history_svg({"a<b&c": [0.5], long_name: [0.4]})
    root = ElementTree.fromstring(svg)  # well-formed despite the name
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "a<b&c" in texts
    assert not any(text == long_name for text in texts)
    assert [t.text for t in root.iter(f"{SVG}title")] == [long_name]  # shown on hover
