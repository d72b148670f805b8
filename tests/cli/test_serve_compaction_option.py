"""`lithair serve --segment-compaction` (LITHAIR_SEGMENT_COMPACTION): off unless asked."""

from __future__ import annotations

from click.testing import CliRunner

from lithair_node.cli.serve_cmd import config_from_options, serve
from tests.node.coldtier.test_cold_config import BASE


def test_off_by_default_and_on_when_asked() -> None:
    assert config_from_options(dict(BASE)).segment_compaction is False
    assert config_from_options({**BASE, "segment_compaction": True}).segment_compaction is True


def test_the_flag_and_its_environment_name() -> None:
    help_text = CliRunner().invoke(serve, ["--help"], terminal_width=200).output
    assert "--segment-compaction" in help_text and "LITHAIR_SEGMENT_COMPACTION" in help_text
