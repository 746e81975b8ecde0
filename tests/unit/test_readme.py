from __future__ import annotations

from pathlib import Path

from ops.docs import fee_table, payout_schedule, topic_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_topic_fee_and_payout_tables_match_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert topic_table() in readme
    assert fee_table() in readme
    assert payout_schedule() in readme


def test_the_readme_gives_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
