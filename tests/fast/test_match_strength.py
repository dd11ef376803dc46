"""Match strength (kb.match_strength): features of a ranking, labels from probabilities, model files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kb.codes import extract_codes
from kb.match_strength import FEATURES, SHIPPED, MatchModel, features
from kb.query import parse_query
from kb.results import Ranked


def ranked(*cosines: float, identifiers=(), coverage: float = 0.5) -> list[Ranked]:
    return [Ranked(f"d{i}", 1.0 - i / 10, {}, cosine=c, coverage=coverage,
                   identifiers=identifiers[i] if i < len(identifiers) else ()) for i, c in enumerate(cosines)]


def test_features_describe_how_far_each_result_stands_out():
    x = features(ranked(0.8, 0.5, 0.4, identifiers=[("0x1",), ()]), identifiers=1)
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert col["cosine"].tolist() == [0.8, 0.5, 0.4]
    assert col["cosine_margin"].tolist() == pytest.approx([0.3, -0.3, -0.4])  # minus the best other result
    assert col["cosine_spread"].tolist() == pytest.approx([0.3, 0.0, -0.1])  # minus the median of the first ten
    assert col["identifiers"].tolist() == [1.0, 0.0, 0.0]
    assert col["lacks_identifiers"].tolist() == [0.0, 1.0, 1.0]
    assert col["first"].tolist() == [1.0, 0.0, 0.0]
    assert col["log_rank"].tolist() == pytest.approx([0.0, math.log(2), math.log(3)])
    without_codes = features(ranked(0.8, 0.5), identifiers=0)
    assert without_codes[:, FEATURES.index("lacks_identifiers")].tolist() == [0.0, 0.0]
    assert features([], identifiers=0).shape == (0, len(FEATURES))


def test_labels_follow_the_two_cuts():
    model = MatchModel("m", tuple([0.0] * len(FEATURES)), 0.0, strong=0.5, partial=0.2)
    assert [model.label(p) for p in (0.9, 0.5, 0.49, 0.2, 0.19, 0.0)] == ["strong", "strong", "partial", "partial", "weak", "weak"]


def test_apply_gives_each_result_its_probability_and_label():
    cosine_only = tuple(10.0 if name == "cosine" else 0.0 for name in FEATURES)
    model = MatchModel("m", cosine_only, -5.0, strong=0.5, partial=0.2)
    out = model.apply(ranked(0.9, 0.5, 0.1), identifiers=0)
    assert [r.match for r in out] == ["strong", "strong", "weak"]
    assert out[0].probability == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert [r.doc_id for r in out] == ["d0", "d1", "d2"]  # the order is kept


def test_shipped_model_loads_and_a_model_for_other_features_is_refused(tmp_path):
    shipped = MatchModel.load(SHIPPED)
    assert shipped.features == FEATURES and 0 < shipped.partial <= shipped.strong < 1
    assert shipped.fitted["held_out"]  # it says how it did on queries it was not fitted on
    stale = tmp_path / "old.json"
    stale.write_text(json.dumps({**json.loads(SHIPPED.read_text()), "features": ["cosine"], "coefficients": [1.0]}))
    with pytest.raises(ValueError, match="refit it with `kb calibrate`"):
        MatchModel.load(stale)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a match model"):
        MatchModel.load(broken)


def test_identifiers_of_a_query():
    assert parse_query("job fails with 0x80070005").identifiers == ("0x80070005",)
    assert parse_query("event id 4625 logon failure").identifiers == ("4625",)
    assert parse_query("System.UnauthorizedAccessException when saving").identifiers == ("UnauthorizedAccessException",)
    assert parse_query("backup server slow").identifiers == ()
    assert extract_codes("see disk-latency-event-153-129.md; error -1018") == ["-1018"]  # a file name is not a mention
