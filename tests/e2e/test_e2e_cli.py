"""The party CLI: add (token alone on stdout), list (names and roles, never tokens), revoke."""

from __future__ import annotations

import pytest

ROLES = {"alpha": "operator", "bravo": "authority", "charlie": "observer"}


@pytest.fixture
def db(backend, database_factory):
    return database_factory.create(backend)


def _leaks(text: str, token: str, window: int = 12) -> bool:
    """Whether any `window`-character piece of the token appears in the text."""
    return any(token[i:i + window] in text for i in range(0, max(1, len(token) - window + 1)))


def test_add_list_revoke(db, cli):
    tokens = {}
    for name, role in ROLES.items():
        proc = cli.run(db, "party", "add", name, "--role", role)
        assert proc.returncode == 0, proc.stderr
        token = proc.stdout.strip()
        assert proc.stdout in (token, token + "\n"), (
            f"stdout must be the token alone: {proc.stdout!r}")
        assert token and len(token.split()) == 1, f"stdout must be the token alone: {proc.stdout!r}"
        assert len(token) >= 20, "bearer tokens must be long enough to be unguessable"
        assert token not in proc.stderr
        tokens[name] = token
    assert len(set(tokens.values())) == len(tokens), "tokens must differ"

    # list: every name with its role; never a token (nor a 12-character piece of one).
    proc = cli.run(db, "party", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name, role in ROLES.items():
        assert any(name in line and role in line for line in lines), (name, role, proc.stdout)
    for token in tokens.values():
        assert not _leaks(proc.stdout + proc.stderr, token), (
            f"`party list` leaks a token:\n{proc.stdout}")

    # revoke: exit 0; the others stay listed.
    proc = cli.run(db, "party", "revoke", "alpha")
    assert proc.returncode == 0, proc.stderr
    proc = cli.run(db, "party", "list")
    assert proc.returncode == 0
    assert "bravo" in proc.stdout and "charlie" in proc.stdout
    for token in tokens.values():
        assert not _leaks(proc.stdout + proc.stderr, token)

    # revoke an unknown name: non-zero exit with a message on stderr.
    proc = cli.run(db, "party", "revoke", "nobody")
    assert proc.returncode != 0
    assert proc.stderr.strip(), "an error message belongs on stderr"


def test_invalid_role_is_refused(db, cli):
    proc = cli.run(db, "party", "add", "zulu", "--role", "admiral")
    assert proc.returncode != 0
    assert proc.stdout.strip() == "", "no token for a refused party"
    assert proc.stderr.strip()


def test_revoked_token_is_refused_by_a_server(backend, server_factory, api_for, cli):
    srv = server_factory.start(backend)
    srv.stop()
    proc = cli.run(srv.db, "party", "revoke", "red")
    assert proc.returncode == 0, proc.stderr
    srv.start()
    api = api_for(srv)
    try:
        api.problem(api.red.get("/v1/operations"), 401)
        api.expect(api.blue.get("/v1/operations"), 200)
        api.expect(api.watch.get("/v1/operations"), 200)
        listing = cli.run(srv.db, "party", "list")
        assert listing.returncode == 0 and "blue" in listing.stdout
    finally:
        api.close()
