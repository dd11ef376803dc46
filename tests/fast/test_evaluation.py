"""`kb eval` slices: which queries each per-slice row covers (no model needed)."""

from __future__ import annotations

from kb.evaluation import EvalQuery, evaluate_slices, load_queries, slices


def test_slices_by_quotes_codes_and_product_area():
    queries = [
        EvalQuery("1", 'fails with "access denied"', ("a",), "windows-server/backup-and-storage"),
        EvalQuery("2", "error 0x80070005 on backup", ("b",), "windows-server/identity"),
        EvalQuery("3", "slow queries", ("c",), "sql/performance"),
        EvalQuery("4", "no area here", ("d",)),
    ]
    found = slices(queries)
    assert found["all"] == {"1", "2", "3", "4"}
    assert found["quoted"] == {"1"} and found["error codes"] == {"2"}
    assert found["area windows-server"] == {"1", "2"} and found["area sql"] == {"3"}
    assert list(found) == ["all", "quoted", "error codes", "area sql", "area windows-server"]


def test_cross_lingual_sets_report_each_direction_and_query_language(tmp_path):
    path = tmp_path / "crosslingual.jsonl"
    path.write_text("\n".join([
        '{"id": "x1", "query": "exchange db dismounts", "relevant": ["a"], "direction": "en-to-other", "query_language": "en"}',
        '{"id": "x2", "query": "base de dados desmonta", "relevant": ["b"], "direction": "other-to-en", "query_language": "pt"}',
        '{"id": "x3", "query": "ошибки входа", "relevant": ["c"], "direction": "other-to-en", "query_language": "ru"}',
        '{"id": "x4", "query": "falhas de backup", "relevant": ["d"], "direction": "same-language", "query_language": "pt"}',
    ]), encoding="utf-8")
    found = slices(load_queries(path))
    assert found["direction en-to-other"] == {"x1"} and found["direction other-to-en"] == {"x2", "x3"}
    assert found["  other-to-en, query in ru"] == {"x3"} and found["direction same-language"] == {"x4"}
    ranked = {"x1": {"z": 2.0, "a": 1.0}, "x2": {"b": 1.0}, "x3": {"z": 1.0}, "x4": {"d": 1.0}}
    count, values = evaluate_slices(load_queries(path), ranked)["direction other-to-en"]
    assert count == 2 and values["hit_rate@3"] == 0.5 and values["mrr@10"] == 0.5
