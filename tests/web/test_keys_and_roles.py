"""Named keys with roles: each role against each class of action, over the API and on the pages;
keys kept only as hashes; revocation; the audit log of what each key did."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import ADMIN_TOKEN, PLAIN_HTTP, race, wait_until
from tests.dumps import database_dump
from webhook_app.cli import cli
from webhook_app.usecases.keys import KeyRing
from webhook_app.web.apidoc import ROLE_ATTRIBUTE

SECRET_URL = "https://hooks.slack.com/services/T000/B000/roles-test-secret-path"


def make_key(server: Any, name: str, role: str) -> str:
    made = server.admin.post("/api/keys", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def client(server: Any, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {key}"}, verify=PLAIN_HTTP
    )


def keyed_clients(server: Any) -> dict[str, httpx.Client]:
    return {
        role: client(server, make_key(server, f"the-{role}", role))
        for role in ("viewer", "operator", "admin")
    }


def test_each_role_against_each_class_of_action_over_the_api(server: Any) -> None:
    clients = keyed_clients(server)
    event_id = server.post_callback({"id": "voice-1", "status": "finished"}).json()["event_ids"][0]
    reads = [
        "/api/events",
        f"/api/events/{event_id}",
        "/api/routes",
        "/api/deliveries",
        "/api/stats",
        "/api/audit",
    ]
    for role, http in clients.items():
        for path in reads:
            assert http.get(path).status_code == 200, (role, path)

    def operate(http: httpx.Client) -> list[int]:
        voice = server.post_callback({"id": f"voice-of-{id(http)}", "status": "finished"}).json()
        return [
            http.post("/api/routes/log/pause").status_code,
            http.post("/api/routes/log/resume").status_code,
            http.post(f"/api/events/{voice['event_ids'][0]}/replay").status_code,
        ]

    def configure(http: httpx.Client, n: int) -> list[int]:
        made = http.post("/api/routes", json={"name": f"made-{n}", "handler": "log"})
        return [made.status_code, http.get("/api/keys").status_code]

    refused = clients["viewer"].post("/api/routes/log/pause")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == ("forbidden", "needs the operator role")
    assert operate(clients["viewer"]) == [403, 403, 403]
    assert operate(clients["operator"]) == [200, 200, 202]
    assert operate(clients["admin"]) == [200, 200, 202]
    assert configure(clients["viewer"], 1) == [403, 403]
    assert configure(clients["operator"], 2) == [403, 403]
    assert configure(clients["admin"], 3) == [201, 200]
    assert (
        clients["operator"].post("/api/routes", json={}).json()["error"]["message"] == "needs the admin role"
    )
    assert server.http.get("/api/events").status_code == 401
    assert client(server, "whk_000000000000_not-a-key").get("/api/events").status_code == 401
    for http in clients.values():
        http.close()


def test_every_api_endpoint_names_the_role_it_needs(server: Any) -> None:
    """A new endpoint without `require(Role…)` would be open, or closed to all: both are caught here."""
    app = server.app
    unguarded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and getattr(app.view_functions[rule.endpoint], ROLE_ATTRIBUTE, None) is None
    ]
    assert unguarded == []
    document = server.http.get("/openapi.json").json()
    pause = document["paths"]["/api/routes/{name}/pause"]["post"]
    assert "`operator` role" in pause["description"] and "403" in pause["responses"]


def test_a_key_is_shown_once_and_kept_only_as_a_salted_hash(server: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    key = make_key(server, "ci-deploy", "operator")
    assert re.fullmatch(r"whk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key), "32 random bytes behind a public id"
    with client(server, key) as http:
        assert http.get("/api/events").status_code == 200
    with httpx.Client(base_url=server.url, timeout=10, verify=PLAIN_HTTP) as browser:
        assert browser.post("/ui/login", data={"token": key}).status_code == 302
        pages = [browser.get(path).text for path in ("/ui/", "/ui/audit", "/ui/routes")]
    listed = server.admin.get("/api/keys").json()["items"]
    assert {"name": "ci-deploy", "role": "operator", "source": "database"}.items() <= listed[1].items()
    assert listed[0]["name"] == "env-1" and listed[0]["source"] == "environment"
    audit = server.admin.get("/api/audit").text
    secret = key.split("_", 2)[2]
    for where, text in [
        ("listing", str(listed)),
        ("audit", audit),
        ("pages", "".join(pages)),
        ("logs", caplog.text),
    ]:
        assert secret not in text, where
    server.store.dispose()  # SQLite folds its write-ahead log back into the file
    dumped = database_dump(server.settings.database_url)
    assert secret.encode() not in dumped and key.encode() not in dumped
    assert b"ci-deploy" in dumped, "the dump is the real one"


def test_last_used_is_written_at_most_once_a_minute(server: Any) -> None:
    key = make_key(server, "poller", "viewer")
    with client(server, key) as http:
        http.get("/api/events")
        first = next(k for k in server.admin.get("/api/keys").json()["items"] if k["name"] == "poller")
        assert first["last_used_at"] is not None
        for _ in range(5):
            http.get("/api/events")
    other_process = KeyRing(server.store, ())  # another process, with no memory of that use
    assert other_process.identify(key, now=server.app.extensions["webhook_app"].clock.now()) is not None
    later = next(k for k in server.admin.get("/api/keys").json()["items"] if k["name"] == "poller")
    assert later["last_used_at"] == first["last_used_at"]
    in_a_minute = server.app.extensions["webhook_app"].clock.now() + timedelta(minutes=1, seconds=1)
    KeyRing(server.store, ()).identify(key, now=in_a_minute)
    moved = next(k for k in server.admin.get("/api/keys").json()["items"] if k["name"] == "poller")
    assert moved["last_used_at"] != first["last_used_at"]


def test_revoked_keys_are_refused_and_their_page_sessions_end(server: Any) -> None:
    key = make_key(server, "leaver", "operator")
    with (
        client(server, key) as http,
        httpx.Client(base_url=server.url, timeout=10, verify=PLAIN_HTTP) as browser,
    ):
        browser.post("/ui/login", data={"token": key})
        assert browser.get("/ui/routes").status_code == 200
        assert server.admin.delete("/api/keys/leaver").status_code == 204
        assert http.get("/api/events").status_code == 401, "this process forgets it at once"
        page = browser.get("/ui/routes")
        assert page.status_code == 302 and "/ui/login" in page.headers["location"]
    assert server.admin.delete("/api/keys/leaver").status_code == 404
    assert server.admin.delete("/api/keys/env-1").status_code == 409
    remade = make_key(server, "leaver", "viewer")  # a revoked key's name may be given again
    assert remade != key
    listed = [k for k in server.admin.get("/api/keys").json()["items"] if k["name"] == "leaver"]
    assert [k["revoked_at"] is None for k in listed] == [True, False], "live first, the revoked one kept"


def test_key_requests_that_cannot_be_used_get_clear_answers(server: Any) -> None:
    cases = [
        ({"name": "Bad Name", "role": "viewer"}, 422, {"name"}),
        ({"name": "env-7", "role": "admin"}, 422, {"name"}),
        ({"name": "ok", "role": "root"}, 422, {"role"}),
        ({"name": ["x"], "role": None}, 422, {"name", "role"}),
        ({"name": "a\u0000b", "role": "viewer"}, 422, {"name"}),
    ]
    for body, status, fields in cases:
        answer = server.admin.post("/api/keys", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert set(answer.json()["error"]["details"]) == fields, body
    assert server.admin.post("/api/keys", content=b"[1]").status_code == 400
    make_key(server, "twice", "viewer")
    again = server.admin.post("/api/keys", json={"name": "twice", "role": "viewer"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "key_exists"


def test_two_terminals_making_the_same_key_make_one(server: Any) -> None:
    answers = race(
        4, lambda _n: server.admin.post("/api/keys", json={"name": "raced", "role": "viewer"}).status_code
    )
    assert sorted(answers) == [201, 409, 409, 409]
    revoked = race(4, lambda _n: server.admin.delete("/api/keys/raced").status_code)
    assert sorted(revoked) == [204, 404, 404, 404]
    entries = server.admin.get("/api/audit", params={"target": "raced"}).json()["items"]
    assert [e["action"] for e in entries] == ["key.revoke", "key.create"], "each done once, recorded once"


def test_the_audit_trail_of_a_pause_and_resume_by_an_operator_key(server: Any) -> None:
    key = make_key(server, "night-shift", "operator")
    with client(server, key) as http:
        assert http.post("/api/routes/log/pause").status_code == 200
        assert http.post("/api/routes/log/pause").status_code == 200  # already paused: no change
        assert http.post("/api/routes/log/resume").status_code == 200
        trail = http.get("/api/audit", params={"actor": "night-shift"}).json()
    assert [(e["action"], e["target"], e["actor"]) for e in trail["items"]] == [
        ("route.resume", "log", "night-shift"),
        ("route.pause", "log", "night-shift"),
    ]
    made = server.admin.get("/api/audit", params={"action": "key.create", "target": "night-shift"}).json()
    assert [(e["actor"], e["details"]) for e in made["items"]] == [("env-1", {"role": "operator"})]
    page = server.admin.get("/api/audit", params={"limit": 1}).json()
    assert page["next_cursor"] and len(page["items"]) == 1
    rest = server.admin.get("/api/audit", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert rest["items"][0]["id"] < page["items"][0]["id"]
    assert server.admin.get("/api/audit", params={"cursor": "nonsense"}).status_code == 400
    assert server.admin.get("/api/audit", params={"since": "yesterday"}).status_code == 400


def test_route_changes_are_audited_with_before_and_after_and_secrets_masked(server: Any) -> None:
    body = {"name": "alerts", "handler": "slack", "options": {"webhook_url": SECRET_URL}}
    assert server.admin.post("/api/routes", json=body).status_code == 201
    assert (
        server.admin.patch("/api/routes/alerts", json={"version": 1, "events": ["voice.failed"]}).status_code
        == 200
    )
    assert (
        server.admin.patch("/api/routes/alerts", json={"version": 1, "events": ["voice.ready"]}).status_code
        == 409
    )
    assert server.admin.delete("/api/routes/alerts").status_code == 204
    entries = server.admin.get("/api/audit", params={"target": "alerts"}).json()["items"]
    assert [e["action"] for e in entries] == ["route.delete", "route.update", "route.create"], (
        "a refused change leaves none"
    )
    deleted, updated, created = (e["details"] for e in entries)
    assert created["before"] is None and created["after"]["handler"] == "slack"
    assert updated["before"]["events"] != updated["after"]["events"] == ["voice.failed"]
    assert deleted["after"] is None and deleted["before"]["events"] == ["voice.failed"]
    assert "roles-test-secret-path" not in str(entries)


def test_a_replay_is_audited_once_however_often_it_is_pressed(server: Any) -> None:
    event_id = server.post_callback({"id": "voice-1", "status": "finished"}).json()["event_ids"][0]
    answers = race(4, lambda _n: server.admin.post(f"/api/events/{event_id}/replay").status_code)
    assert sorted(answers) == [202, 409, 409, 409]
    entries = server.admin.get("/api/audit", params={"action": "event.replay"}).json()["items"]
    assert [(e["target"], e["details"]) for e in entries] == [(event_id, {"routes": ["log"], "queued": 1})]


def test_viewers_see_no_buttons_and_a_forged_post_is_refused(server: Any) -> None:
    event_id = server.post_callback({"id": "voice-1", "status": "finished"}).json()["event_ids"][0]
    viewer, operator = make_key(server, "reader", "viewer"), make_key(server, "oncall", "operator")
    pages = [
        "/ui/",
        "/ui/routes",
        "/ui/routes/log",
        f"/ui/events/{event_id}",
        "/ui/dead",
        "/ui/receipts",
        "/ui/audit",
    ]
    with httpx.Client(base_url=server.url, timeout=10, verify=PLAIN_HTTP) as browser:
        browser.post("/ui/login", data={"token": viewer})
        for path in pages:
            html = browser.get(path).text
            forms = re.findall(r'<form method="post" action="([^"]+)"', html)
            assert forms == ["/ui/logout"], (path, forms)
            assert "reader · viewer" in html, path
        assert "New route" not in browser.get("/ui/routes").text
        assert browser.get("/ui/keys").status_code == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/ui/routes").text).group(1)  # type: ignore[union-attr]
        for action in ("/ui/routes/log/pause", f"/ui/events/{event_id}/replay", "/ui/routes/log/replay-dead"):
            forged = browser.post(action, data={"csrf": csrf})
            assert forged.status_code == 403 and "needs the operator role" in forged.text, action
        assert browser.post("/ui/keys", data={"csrf": csrf, "name": "x", "role": "admin"}).status_code == 403
    assert server.admin.get("/api/audit", params={"actor": "reader"}).json()["items"] == []
    with httpx.Client(base_url=server.url, timeout=10, verify=PLAIN_HTTP) as browser:
        browser.post("/ui/login", data={"token": operator})
        html = browser.get("/ui/routes/log").text
        assert "/ui/routes/log/pause" in html and "/ui/routes/log/edit" not in html, (
            "operators act, admins edit"
        )
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        assert browser.post("/ui/routes/log/pause", data={"csrf": csrf}).status_code == 302
        assert browser.post("/ui/routes/new", data={"csrf": csrf, "name": "x"}).status_code == 403
    (entry,) = server.admin.get("/api/audit", params={"actor": "oncall"}).json()["items"]
    assert entry["action"] == "route.pause"


def test_admins_make_and_revoke_keys_on_the_page(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10, verify=PLAIN_HTTP) as browser:
        browser.post("/ui/login", data={"token": ADMIN_TOKEN})
        page = browser.get("/ui/keys").text
        assert "env-1 · admin" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        made = browser.post("/ui/keys", data={"csrf": csrf, "name": "bob", "role": "viewer"})
        key = re.search(r'<pre class="new-key">([^<]+)</pre>', made.text).group(1)  # type: ignore[union-attr]
        assert browser.get("/ui/keys").text.count(key) == 0, "shown on that answer alone"
        with client(server, key) as http:
            assert http.get("/api/events").status_code == 200
            revoked = browser.post("/ui/keys/bob/revoke", data={"csrf": csrf})
            assert revoked.status_code == 302
            assert http.get("/api/events").status_code == 401
        form = {"csrf": csrf, "name": "Bad Name", "role": "viewer", "back": "/ui/keys"}
        refused = browser.post("/ui/keys", data=form)
        assert refused.headers["location"] == "/ui/keys"
        assert "name: 1 to 63 of a-z" in browser.get("/ui/keys").text


def test_keys_commands(server: Any) -> None:
    env = {
        "WEBHOOK_APP_DATABASE_URL": server.settings.database_url,
        "WEBHOOK_APP_DATA_DIR": server.settings.data_dir,
    }
    made = CliRunner().invoke(cli, ["keys", "create", "--name", "deployer", "--role", "operator"], env=env)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("whk_") and made.stdout.strip() == key, "alone on the last line of stdout"
    with client(server, key) as http:
        wait_until(lambda: http.get("/api/events").status_code == 200, timeout=3)
    listed = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert "deployer" in listed.output and "operator" in listed.output and key not in listed.output
    assert CliRunner().invoke(cli, ["keys", "revoke", "deployer"], env=env).exit_code == 0
    assert CliRunner().invoke(cli, ["keys", "revoke", "deployer"], env=env).exit_code == 1
    bad = CliRunner().invoke(cli, ["keys", "create", "--name", "x", "--role", "root"], env=env)
    assert bad.exit_code == 2
    trail = CliRunner().invoke(cli, ["audit", "list", "--target", "deployer"], env=env)
    lines = trail.output.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["key.revoke", "key.create"], trail.output
    assert all(line.split()[1].startswith("cli:") for line in lines)
    as_json = CliRunner().invoke(cli, ["audit", "list", "--action", "key.create", "--json"], env=env)
    assert '"actor": "cli:' in as_json.output


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_lower_roles_cannot_reach_keys_or_route_changes(server: Any, role: str) -> None:
    with client(server, make_key(server, f"k-{role}", role)) as http:
        answers = [
            http.get("/api/keys").status_code,
            http.post("/api/keys", json={"name": "escalate", "role": "admin"}).status_code,
            http.delete("/api/keys/env-1").status_code,
            http.patch("/api/routes/log", json={"version": 1}).status_code,
            http.delete("/api/routes/log").status_code,
        ]
    assert answers == [403] * 5
