"""Smoke test of the benchmark suite (benchmarks/suite.py): quick mode on tiny sizes.

It checks that the suite runs, measures both sides in both columns and writes its tables, and
that every family script offers the suite's interface; it asserts nothing about speed (timings
are never tested).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import suite  # noqa: E402


def test_quick_run_writes_a_table(tmp_path, capsys):
    out = tmp_path / "bench.md"
    argv = ["--quick", "--family", "regression", "training", "--sizes", "100", "--repeats", "1"]
    rows = suite.main([*argv, "--only", "mse", "--markdown", str(out)])
    assert [c.name for c in rows] == ["mse_loss n=1e+02"]
    r = rows[0].result
    assert r["lg"] > 0 and r["ref"] > 0 and r["ratio"] == pytest.approx(r["lg"] / r["ref"])
    assert r["ratio_single"] > 0
    text = out.read_text()
    assert "| mse_loss n=1e+02 |" in text and "geometric mean" in text and "Command:" in text
    assert "one thread each" in text and "## torch's losses" in text
    assert "mse_loss n=1e+02" in capsys.readouterr().out


@pytest.mark.parametrize("family", suite.FAMILIES)
def test_every_family_script_offers_the_suite_interface(family):
    script = suite._script(family)
    assert isinstance(script.REFERENCE, str) and script.REFERENCE
    for quick in (True, False):
        rows = script.rows(quick=quick)
        names = [name for name, _ in rows]
        assert rows and len(set(names)) == len(names)
        assert all(isinstance(name, str) and callable(make) for name, make in rows)


def test_rows_come_from_the_family_scripts():
    cases, skipped = suite.collect(["regression", "training"], [100], None, quick=True)
    names = {c.name for c in cases}
    assert not skipped
    assert {"mse_loss n=1e+02", "kl_div n=1e+02", "MLP step 32x64->128->10 (MSE, SGD)"} <= names
    mse = next(c for c in cases if c.name == "mse_loss n=1e+02")
    assert mse.elements == 100 and mse.arrays_moved == 5  # x, y read twice; one gradient


def test_one_thread_column_restores_the_thread_counts():
    import torch

    from lossgrad import _parallel

    before = torch.get_num_threads(), _parallel.get_num_threads()
    with suite.one_thread_each():
        assert (torch.get_num_threads(), _parallel.get_num_threads()) == (1, 1)
    assert (torch.get_num_threads(), _parallel.get_num_threads()) == before


def test_problem_size_from_the_label():
    assert suite._elements("cross_entropy N=4096 C=1000") == 4096 * 1000
    assert suite._elements("l1_loss n=1e+06") == 1_000_000
    assert suite._elements("ctc_loss T=50 N=16 C=20 S=30") == 50 * 16 * 20
    assert suite._elements("dice_loss 16x4x256x256 vs MONAI") == 16 * 4 * 256 * 256


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_peak_memory_probe_runs_each_side_in_a_subprocess():
    case = next(c for c in suite.collect(["regression"], [4096], "mse", False)[0])
    lg, ref = suite.peak_memory(case, [4096])
    assert lg >= 0 and ref >= 0


def test_lossgrad_bench_command_runs_the_suite(tmp_path, capsys):
    from lossgrad import cli

    out = tmp_path / "b.md"
    argv = ["--quick", "--family", "training", "--repeats", "1", "--markdown", str(out)]
    assert cli.main(["bench", *argv]) == 0
    assert "MLP step" in out.read_text() and "MLP step" in capsys.readouterr().out


def test_cells_show_both_columns_memory_and_roofline():
    case = suite.Case("regression", "mse_loss n=1e+06", print, 10**6, 4, 5)
    case.result.update(
        lg=1e-3, ref=5e-4, ratio=2.0, ratio_single=1.5, roofline=(0.25, 0.5), mem=(4.0, 8.0)
    )
    assert suite._cells(case)[3:] == ["2.00", "1.50", "4.0 / 8.0", "25% / 50%"]


def test_revision_comparison_times_both_trees_in_both_columns(capsys):
    """benchmarks/compare_revisions.py: two workers (here the same source tree twice), their
    runs interleaved; a row a tree cannot build is reported missing, not fatal."""
    import compare_revisions

    src = str(Path(__file__).resolve().parents[1] / "src")
    argv = [src, src, "--family", "margin", "--only", "hinge_embedding N=16", "--rounds", "2"]
    rows = compare_revisions.main([*argv, "--repeats", "1"])
    assert [row.name for row in rows] == ["hinge_embedding N=16"]
    assert not rows[0].missing
    assert all(len(rows[0].times[column]) == 2 for column in compare_revisions.COLUMNS)
    assert all(0 < rows[0].ratio(column) < 100 for column in compare_revisions.COLUMNS)
    assert "geometric mean" in capsys.readouterr().out


def test_revision_comparison_reports_a_row_one_tree_lacks(tmp_path):
    """A tree without the loss (here a copy whose functional namespace drops it) gives a
    'missing' row; the others are still measured."""
    import shutil

    import compare_revisions

    src = Path(__file__).resolve().parents[1] / "src"
    shutil.copytree(src / "lossgrad", tmp_path / "lossgrad")
    with open(tmp_path / "lossgrad" / "nn" / "functional" / "__init__.py", "a") as module:
        module.write("\ndel hinge_embedding_loss\n")
    argv = [str(tmp_path), str(src), "--family", "margin", "--only", "N=16", "--rounds", "1"]
    rows = {row.name: row for row in compare_revisions.main([*argv, "--repeats", "1"])}
    assert "AttributeError" in rows["hinge_embedding N=16"].missing
    assert not rows["margin_ranking N=16"].missing


def _measured(cases, ratio):
    for case in cases:
        case.result = dict(lg=2e-3, ref=1e-3 / ratio * 2, ratio=ratio, ratio_single=ratio / 2)
    return cases


def test_merge_replaces_the_rows_of_the_families_measured_again():
    """``--merge``: the page keeps the other families' rows as written and takes the new rows
    of the families measured again; summaries, header and notes follow."""
    cases = suite.collect(["regression", "structured", "language"], None, None, False)[0]
    regression = _measured([c for c in cases if c.family == "regression"], 0.5)
    regression[0].result["mem"] = (4.0, 8.0)
    regression[0].result["roofline"] = (0.25, 0.5)
    structured = _measured([c for c in cases if c.family == "structured"], 0.8)
    old_language = _measured([c for c in cases if c.family == "language"][:-1], 2.0)
    page = suite.markdown(
        regression + structured + old_language,
        ["language: an old note", "structured: kept", "measured copy bandwidth, 9 GB/s"],
        "python benchmarks/suite.py --rounds 2",
        "2026-01-01 00:00 UTC",
        "a test machine",
    )
    new_language = _measured([c for c in cases if c.family == "language"], 0.25)
    merged = suite.merged_page(
        page, new_language, ["language: a new note"], "python benchmarks/suite.py --merge"
    )
    rows = {c.name: c for c in suite.page_cases(merged)}
    assert len(rows) == len(cases)
    assert {rows[c.name].result["ratio"] for c in regression} == {0.5}
    assert rows[regression[0].name].result["mem"] == (4.0, 8.0)
    assert rows[regression[0].name].result["roofline"] == (0.25, 0.5)
    assert {rows[c.name].result["ratio"] for c in new_language} == {0.25}
    assert f"({len(regression)} rows)" in merged and "**0.50**" in merged
    assert "2026-01-01 00:00 UTC; the language rows re-measured" in merged
    assert "`python benchmarks/suite.py --rounds 2`, then `python benchmarks/suite.py --merge`" in (
        merged
    )
    assert "- structured: kept" in merged and "- measured copy bandwidth, 9 GB/s" in merged
    assert "- language: a new note" in merged and "an old note" not in merged
    with pytest.raises(SystemExit):
        suite.main(["--family", "language", "--merge", "--only", "dpo"])
