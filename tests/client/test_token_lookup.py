"""The CLI's token lookup order: the value, its file, the data dir's file, ./lithair-data."""

from __future__ import annotations

from pathlib import Path

import pytest

from lithair_node.client.token_lookup import TokenFileError, find_token


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_token(None, None, None) is None  # nothing anywhere: no token
    (tmp_path / "lithair-data").mkdir()
    (tmp_path / "lithair-data" / "token").write_text("default\n")
    data_dir = tmp_path / "cluster"
    data_dir.mkdir()
    (data_dir / "token").write_text("from-data-dir\n")
    token_file = tmp_path / "file"
    token_file.write_text("from-file\n")
    assert find_token(None, None, None) == "default"
    assert find_token(None, None, data_dir) == "from-data-dir"
    assert find_token(None, token_file, data_dir) == "from-file"
    assert find_token("given", token_file, data_dir) == "given"


def test_a_named_file_that_is_missing_or_a_found_one_that_is_empty_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="cannot read"):
        find_token(None, tmp_path / "absent", None)
    assert find_token(None, None, tmp_path) is None  # a node's own data dir: no token file
    (tmp_path / "token").write_text("\n")
    with pytest.raises(TokenFileError, match="empty"):
        find_token(None, None, tmp_path)
