from __future__ import annotations

from pathlib import Path

from ops.docs import topic_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_topic_table_matches_the_contracts() -> None:
    assert topic_table() in (ROOT / "README.md").read_text()


def test_the_readme_gives_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
