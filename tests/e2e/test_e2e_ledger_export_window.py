"""``ledger export`` without a window takes the last 24 hours, and an export with no entries
of the party in its window says so (exit 0): the file still holds every leaf as its hash."""

from __future__ import annotations

import json


def test_default_window_is_the_last_day_and_an_empty_one_says_so(api, geo, area, server, cli,
                                                                  tmp_path):
    api.create_op("red", [geo.volume(geo.square(area))])
    out = tmp_path / "red.jsonl"
    proc = cli.run(server.db, "ledger", "export", "--party", "red", str(out))
    assert proc.returncode == 0, proc.stderr
    leaves = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert any(leaf.get("entry", {}).get("kind") == "operation.declared" for leaf in leaves), (
        "red's declaration of a minute ago is in the default window (the last 24 h)")
    assert "entries of red in full" in proc.stderr and " from " in proc.stderr

    empty = tmp_path / "red-2001.jsonl"
    proc = cli.run(server.db, "ledger", "export", "--party", "red", "--from",
                   "2001-01-01T00:00:00Z", "--to", "2001-01-02T00:00:00Z", str(empty))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("no entries of red from 2001-01-01T00:00:00Z to "
                                  "2001-01-02T00:00:00Z"), proc.stderr
    lines = empty.read_text().splitlines()
    assert len(lines) - 1 == json.loads(lines[0])["tree_head"]["tree_size"] > 0
    assert not any("entry" in json.loads(line) for line in lines[1:])
