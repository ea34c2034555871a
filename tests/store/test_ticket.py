"""Queue tickets are read as untrusted input: each field's type is checked, unknown ones are kept."""

from __future__ import annotations

import pytest
import tomli_w

from engine.store import runs as st
from engine.store.ticket import Ticket


def test_a_ticket_round_trips_and_keeps_fields_it_does_not_know():
    data = {
        "run_id": "r1",
        "priority": 3,
        "reason": "resume",
        "attempt_id": "ab12",
        "config": {"n_layer": 2},
        "sweep": "s1",
    }
    ticket = Ticket.from_toml(data)
    assert ticket.attempt_id == "ab12" and ticket.config == {"n_layer": 2} and ticket.extra == {"sweep": "s1"}
    assert Ticket.from_toml(ticket.to_toml()) == ticket


@pytest.mark.parametrize(
    "field, value",
    [
        ("run_id", 7),
        ("priority", 500),
        ("priority", "high"),
        ("attempt_id", 5),
        ("config", "n_layer=2"),
        ("reason", ["x"]),
    ],
)
def test_a_field_of_the_wrong_type_is_named(field, value):
    with pytest.raises(st.StoreError, match=f"queue/x.toml: {field} = "):
        Ticket.from_toml({"run_id": "r1", field: value}, source="queue/x.toml")


def test_a_ticket_with_a_bad_field_is_set_aside_and_its_run_fails_saying_why(tmp_path):
    store = st.Store(tmp_path / "runs")
    run_id = store.create_run("", "bad", {})
    store.enqueue(run_id, {"reason": "new"})
    path = store.list_queue()[0].path
    path.write_text(tomli_w.dumps({"run_id": run_id, "attempt_id": 5}))
    assert store.claim_next("engine-a") is None
    assert sorted(p.name for p in store.bad_dir.iterdir()) == [path.name, path.name + ".error"]
    assert "attempt_id = 5" in (store.bad_dir / (path.name + ".error")).read_text()
    status = store.status(run_id)
    assert status.state == "failed" and "set aside" in status.reason
