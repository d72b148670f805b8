"""The progress line of inject and load: nothing at all when hidden; its end state shown."""

from __future__ import annotations

import pytest

from lithair_node.client.progress_line import progress_line


def test_a_hidden_progress_line_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_line(False, total=10) as show:
        show(5, "half way")
    assert capsys.readouterr() == ("", "")


def test_a_shown_progress_line_ends_on_its_last_state(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_line(True, total=10) as show:
        show(5, "half way")
        show(10, "acked 10 readings")
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays the report's (and --json's) alone
    assert "acked 10 readings" in err and "100%" in err
