"""Fusion layer (kb.fusion, plus kb.retrieval.best_per_group): fused scores, ranks and passage choice."""

from __future__ import annotations

import pytest

from kb.fusion import Fused, blend, order_within, reciprocal_rank_fusion, score_fusion
from kb.retrieval import best_per_group


def as_dict(fused: list[Fused]) -> dict[str, float]:
    return {f.key: f.score for f in fused}


# --- score_fusion -----------------------------------------------------------------------------------


def test_score_fusion_scales_each_list_by_its_best_score_and_weights_it():
    fused = score_fusion({
        "dense": (0.6, [("a", 0.9), ("b", 0.45)]),
        "lexical": (0.4, [("b", 10.0), ("c", 5.0)]),
    })
    # a: 0.6 * 0.9/0.9; b: 0.6 * 0.45/0.9 + 0.4 * 10/10; c: 0.4 * 5/10
    assert [f.key for f in fused] == ["b", "a", "c"]
    assert as_dict(fused) == pytest.approx({"a": 0.6, "b": 0.7, "c": 0.2})


def test_a_ranged_list_counts_from_its_lowest_score_so_close_cosines_still_decide():
    # cosines of 0.90 and 0.84 are 7% apart divided by the best, but the whole range apart from the lowest
    lists = {"dense": (0.6, [("a", 0.90), ("b", 0.87), ("c", 0.84)]), "lexical": (0.4, [("c", 10.0), ("b", 6.0)])}
    topped = as_dict(score_fusion(lists))
    ranged = as_dict(score_fusion(lists, ranged=("dense",)))
    assert ranged == pytest.approx({"a": 0.6, "b": 0.3 + 0.24, "c": 0.4})
    assert max(topped, key=topped.get) == "c" and max(ranged, key=ranged.get) == "a"


def test_under_range_scaling_a_document_only_bm25_found_can_rank_first():
    # x: below both dense candidates' cosines (not in the dense top list), but far above the lowest
    # lexical candidate's; the best BM25 by a wide margin
    dense = [("a", 0.86), ("b", 0.85), ("x", 0.84), ("y", 0.78), ("z", 0.77)]
    lexical = [("x", 12.0), ("y", 2.0), ("z", 1.0)]
    fused = score_fusion({"dense": (0.6, dense), "lexical": (0.4, lexical)}, ranged=("dense",))
    assert fused[0].key == "x"


def test_a_ranged_list_of_equal_scores_adds_nothing():
    assert as_dict(score_fusion({"dense": (0.6, [("a", 0.8), ("b", 0.8)])}, ranged=("dense",))) == {"a": 0.0, "b": 0.0}


# --- blend ------------------------------------------------------------------------------------------


def test_blend_brings_the_second_models_cosines_to_the_firsts_scale_before_mixing():
    first = {"a": 0.86, "b": 0.84, "c": 0.82, "foreign": 0.85}
    second = {"a": 0.30, "b": 0.70, "c": 0.50}  # the other model: lower cosines, and b best
    mixed = blend(first, second, 1.0)
    assert mixed["foreign"] == 0.85  # a document only the first model scores keeps its cosine
    assert sorted(mixed, key=mixed.get, reverse=True)[:1] == ["b"]
    assert sum(mixed[k] for k in second) / 3 == pytest.approx(0.84)  # the first model's mean over a, b, c
    assert max(mixed[k] for k in second) - min(mixed[k] for k in second) == pytest.approx(0.04)  # and spread


def test_blend_with_no_share_or_nothing_in_common_is_the_first_models_cosines():
    first = {"a": 0.9, "b": 0.8}
    assert blend(first, {"a": 0.1, "b": 0.5}, 0.0) == first
    assert blend(first, {"x": 0.5}, 0.5) == first


def test_blend_weighs_the_two_models_by_the_share():
    first, second = {"a": 0.9, "b": 0.8}, {"a": 0.2, "b": 0.6}  # scaled: a 0.8, b 0.9
    assert blend(first, second, 0.5) == pytest.approx({"a": 0.85, "b": 0.85})
    assert blend(first, second, 0.25) == pytest.approx({"a": 0.875, "b": 0.825})


def test_score_fusion_is_independent_of_each_lists_absolute_scale():
    small = score_fusion({"dense": (0.5, [("a", 0.8), ("b", 0.4)]), "lexical": (0.5, [("b", 2.0), ("a", 1.0)])})
    large = score_fusion({"dense": (0.5, [("a", 0.8), ("b", 0.4)]), "lexical": (0.5, [("b", 2000.0), ("a", 1000.0)])})
    assert as_dict(small) == pytest.approx(as_dict(large))


def test_score_fusion_records_one_based_rank_per_list():
    fused = score_fusion({
        "dense": (0.5, [("a", 0.9), ("b", 0.8), ("c", 0.1)]),
        "lexical": (0.5, [("c", 3.0), ("b", 1.0)]),
    })
    ranks = {f.key: dict(f.ranks) for f in fused}
    assert ranks == {"a": {"dense": 1}, "b": {"dense": 2, "lexical": 2}, "c": {"dense": 3, "lexical": 1}}


def test_score_fusion_breaks_ties_by_key():
    fused = score_fusion({"x": (1.0, [("b", 1.0), ("c", 1.0), ("a", 1.0)])})
    assert [f.key for f in fused] == ["a", "b", "c"]
    assert all(f.score == pytest.approx(1.0) for f in fused)


def test_score_fusion_unscaled_list_keeps_cosines_and_clamps_negatives():
    lists = {
        "dense": (0.5, [("a", 0.8), ("b", -0.2)]),
        "lexical": (0.5, [("b", 4.0), ("a", 2.0)]),
    }
    unscaled = as_dict(score_fusion(lists, scaled=("lexical",)))
    # a: 0.5 * 0.8 (raw cosine) + 0.5 * 2/4; b: 0.5 * max(-0.2, 0) + 0.5 * 4/4
    assert unscaled == pytest.approx({"a": 0.65, "b": 0.5})
    # scaling every list (the default) divides the cosines by the best one and keeps negatives
    scaled = as_dict(score_fusion(lists))
    assert scaled == pytest.approx({"a": 0.75, "b": 0.375})


def test_score_fusion_empty_list_contributes_nothing():
    fused = score_fusion({"dense": (0.6, []), "lexical": (0.4, [("a", 2.0), ("b", 1.0)])})
    assert as_dict(fused) == pytest.approx({"a": 0.4, "b": 0.2})
    assert all("dense" not in f.ranks for f in fused)
    assert score_fusion({"dense": (0.6, []), "lexical": (0.4, [])}) == []


def test_score_fusion_list_with_no_positive_best_gives_zero_not_division_error():
    fused = score_fusion({"lexical": (1.0, [("a", 0.0), ("b", 0.0)]), "dense": (1.0, [("b", 0.5)])})
    assert as_dict(fused) == pytest.approx({"a": 0.0, "b": 1.0})


# --- reciprocal_rank_fusion --------------------------------------------------------------------------


def test_rrf_sums_weight_over_k_plus_rank():
    fused = reciprocal_rank_fusion({
        "dense": (1.0, [("a", 0.9), ("b", 0.8)]),
        "lexical": (0.5, [("b", 12.0), ("c", 3.0)]),
    })
    expected = {"a": 1.0 / 61, "b": 1.0 / 62 + 0.5 / 61, "c": 0.5 / 62}
    assert as_dict(fused) == pytest.approx(expected)
    assert [f.key for f in fused] == ["b", "a", "c"]
    assert dict(next(f for f in fused if f.key == "b").ranks) == {"dense": 2, "lexical": 1}


def test_rrf_ignores_scores_and_uses_k():
    lists = {"dense": (1.0, [("a", 1000.0), ("b", 0.001)]), "lexical": (1.0, [("b", 5.0)])}
    fused = as_dict(reciprocal_rank_fusion(lists, k=1))
    assert fused == pytest.approx({"a": 1 / 2, "b": 1 / 3 + 1 / 2})


def test_rrf_ties_broken_by_key():
    fused = reciprocal_rank_fusion({"dense": (1.0, [("z", 0.9)]), "lexical": (1.0, [("m", 9.0)])})
    assert [f.key for f in fused] == ["m", "z"]


# --- best_per_group ----------------------------------------------------------------------------------


def test_best_per_group_keeps_each_document_at_its_best_passage():
    hits = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]
    group_of = {1: "A", 2: "B", 3: "A", 4: "C", 5: "B"}
    assert best_per_group(hits, group_of) == [("A", 0.9), ("B", 0.8), ("C", 0.6)]


def test_best_per_group_empty():
    assert best_per_group([], {}) == []


# --- order_within ------------------------------------------------------------------------------------


def test_order_within_picks_best_fused_reciprocal_rank():
    items = [10, 20, 30]
    dense = {10: 0.9, 20: 0.5}    # 10 first, 20 second, 30 missing
    lexical = {30: 2.0, 20: 1.0}  # 30 first, 20 second, 10 missing
    # 10: 1/61 ; 20: 1/62 + 1/62 ; 30: 1/61 -> 20, second in both, beats a single first place
    assert order_within(items, [dense, lexical]) == [20, 10, 30]


def test_order_within_items_missing_from_a_map_get_nothing_from_it():
    # 1 is first in dense and missing from lexical; 2 is second in dense and first in lexical.
    assert order_within([1, 2], [{1: 0.9, 2: 0.8}, {2: 5.0}])[0] == 2
    # Only one map: its order decides.
    assert order_within([1, 2, 3], [{3: 0.2, 2: 0.9}])[0] == 2


def test_order_within_ties_keep_the_item_order():
    assert order_within([1, 2], [{1: 1.0}, {2: 1.0}])[0] == 1
    assert order_within([2, 1], [{1: 1.0}, {2: 1.0}])[0] == 2
    assert order_within([7, 8, 9], [])[0] == 7
    assert order_within([7, 8, 9], [{}, {}]) == [7, 8, 9]


def test_order_within_respects_k():
    rankings = [{1: 2.0, 2: 1.0}, {3: 3.0, 4: 2.0, 2: 1.0}]
    # k=60: 1 -> 1/61, 2 -> 1/62 + 1/63, 3 -> 1/61, 4 -> 1/62: steady second/third places win
    assert order_within([1, 2, 3, 4], rankings, k=60)[0] == 2
    # k=0: 1 -> 1, 2 -> 1/2 + 1/3, 3 -> 1, 4 -> 1/2: first places win (1 and 3 tie -> earliest)
    assert order_within([1, 2, 3, 4], rankings, k=0)[0] == 1
    assert order_within([3, 2, 1, 4], rankings, k=0)[0] == 3


def test_quoted_phrase_evidence_is_added_unscaled():
    """How the searcher fuses: dense and BM25 scaled by their best, phrase evidence as a share (0..1)."""
    lists = {"dense": (0.6, [("a", 0.8), ("b", 0.4)]), "lexical": (0.4, [("b", 10.0), ("a", 5.0)]),
             "phrases": (0.2, [("b", 0.5)])}
    fused = {f.key: f.score for f in score_fusion(lists, scaled=("dense", "lexical"))}
    assert fused["a"] == pytest.approx(0.6 + 0.4 * 0.5)
    assert fused["b"] == pytest.approx(0.6 * 0.5 + 0.4 + 0.2 * 0.5)
