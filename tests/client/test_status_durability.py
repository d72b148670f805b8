"""`lithair status` says in which durability mode each node runs, and warns about none."""

from lithair_node.client.status_table import DURABILITY_NONE_NOTE, NodeRow, render_table


def _row(node_id: str, durability: str) -> NodeRow:
    return NodeRow(node_id=node_id, http_url=f"http://{node_id}", role="follower",
                   durability=durability)


def test_the_table_names_each_nodes_durability_and_warns_about_none() -> None:
    safe = render_table([_row("a", "fsync"), _row("b", "fsync")])
    assert "DURABILITY" in safe.splitlines()[0] and "fsync" in safe.splitlines()[1]
    assert DURABILITY_NONE_NOTE not in safe
    mixed = render_table([_row("a", "fsync"), _row("b", "none")])
    assert mixed.splitlines()[-1] == f"note: {DURABILITY_NONE_NOTE}"
