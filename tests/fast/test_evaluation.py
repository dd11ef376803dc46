"""`kb eval` slices: which queries each per-slice row covers (no model needed)."""

from __future__ import annotations

from kb.evaluation import EvalQuery, slices


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
