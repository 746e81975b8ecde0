"""The broker ACLs come from the services' own declarations; the runbook's table and the deploy
files' scripts are the generated ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ops import acl
from ops.docs import SERVICE_APPS
from shared import topics

ROOT = Path(__file__).resolve().parents[2]
FOUND = acl.principals()
BY_NAME = {p.name: p for p in FOUND}


def test_each_service_reads_what_it_subscribes_to_and_writes_only_its_own_topics() -> None:
    for service in SERVICE_APPS:
        p = BY_NAME[acl.service_principal(service)]
        assert p.groups == (f"danbao-{service}",)
        assert topics.commands(service) in p.reads and topics.CONTROL_COMMANDS in p.reads
        assert {topics.events(service), topics.dead_letters(service), topics.CONTROL_EVENTS} <= set(p.writes)
        others = [t for t in p.writes if t.startswith("danbao.") and t.split(".")[1] in topics.SERVICES
                  and t.split(".")[1] != service]
        assert others == [], f"{service} may write another service's topic"
        assert topics.commands(service) not in p.writes
    assert BY_NAME["danbao-payments"].writes == ("danbao.bank.requests", "danbao.control.events", "danbao.payments.dlq",
                                                 "danbao.payments.events", "danbao.psp.requests")
    assert "danbao.psp.callbacks" in BY_NAME["danbao-escrow"].reads


def test_every_topic_has_exactly_the_writers_the_design_says() -> None:
    writers: dict[str, set[str]] = {}
    for p in FOUND:
        for t in p.writes:
            writers.setdefault(t, set()).add(p.name)
    for service in topics.SERVICES:
        assert writers[topics.events(service)] == {acl.service_principal(service)}
        assert writers[topics.dead_letters(service)] == {acl.service_principal(service)}
    assert writers[topics.PSP_CALLBACKS] == {"psp"} and writers[topics.BANK_CALLBACKS] == {"bank"}
    assert writers[topics.INSURER_CALLBACKS] == {"insurer"} and writers[topics.REGISTRY_RESULTS] == {"registry"}
    assert writers[topics.CONTROL_COMMANDS] == {acl.OPERATORS, "operator-console", "admin-console", acl.WEB}
    assert set(writers) <= set(topics.all_topics())
    read = {t for p in FOUND if p.name not in (acl.OPERATORS, acl.WEB) for t in p.reads}
    # Read by operators and the web console only: control events, dead letters, and notifications' events (no
    # service consumes them).
    assert set(topics.all_topics()) - read == {topics.CONTROL_EVENTS, topics.events("notifications"),
                                               *map(topics.dead_letters, [*topics.SERVICES, *topics.EDGES])}
    web_reads = set(BY_NAME[acl.WEB].reads)
    assert {topics.CONTROL_EVENTS, *map(topics.dead_letters, topics.SERVICES)} <= web_reads
    assert writers[topics.dead_letters("web")] == {acl.WEB}


def test_outside_systems_and_edges_have_their_own_principals() -> None:
    names = [p.name for p in FOUND]
    assert len(names) == len(set(names))
    assert {"psp", "bank", "registry", "insurer", "merchant-gateway", "buyer-app", "operator-console", "admin-console",
            "danbao-ops"} <= set(names)
    assert BY_NAME["psp"].reads == (topics.PSP_REQUESTS,) and BY_NAME["psp"].writes == (topics.PSP_CALLBACKS,)
    assert acl.edge_commands_unknown() == []
    every_command = {t for name, c in acl.CONTRACTS.items() if name.endswith(".commands") for t in c.types()}
    sent = {t for _, commands in acl.EDGES.values() for types in commands.values() for t in types}
    assert every_command == sent, "each command type has an edge that sends it"


def test_an_edge_writes_only_the_topics_its_tokens_can_prove_commands_on() -> None:
    """The broker and the tokens tell one story: the buyer app's principal may not write onboarding's commands,
    and no token it issues could make one count there. The web edge holds the buyer app's and the operator
    console's keys: it writes no command topic neither could prove commands on, and no event topic."""
    web = set(BY_NAME[acl.WEB].writes) - {topics.dead_letters("web")}
    assert web <= set(BY_NAME["buyer-app"].writes) | set(BY_NAME["operator-console"].writes)
    assert all(t.endswith(".commands") for t in web)
    assert set(BY_NAME["buyer-app"].writes) == {topics.commands(s) for s in ("payments", "escrow", "disputes", "notifications")}
    assert set(BY_NAME["admin-console"].writes) == {topics.CONTROL_COMMANDS}
    assert topics.commands("escrow") not in BY_NAME["operator-console"].writes  # staff never ship or confirm receipt
    assert set(acl.EDGES["operator-console"][1][topics.commands("payments")]) == {"payments.risk.decide"}  # risk reviews only


def test_operators_read_everything_and_write_only_commands() -> None:
    ops = BY_NAME[acl.OPERATORS]
    assert set(ops.reads) == set(topics.all_topics())
    assert all(t.endswith(".commands") for t in ops.writes) and ops.groups == ()
    assert set(ops.described_groups) == {g for p in FOUND for g in p.groups}


def test_the_script_adds_each_principals_acls() -> None:
    script = acl.kafka_acls(FOUND)
    assert script.startswith("#!/bin/sh") and "set -eu" in script
    for p in FOUND:
        assert f"\nscram {p.name}\n" in script
        if p.writes:
            assert f"acl --allow-principal {p.user} --operation Write {acl._flags('--topic', p.writes)}\n" in script
    assert "--resource-pattern-type" not in script and "--allow-host" not in script  # literal names, any host


def test_the_runbook_table_is_the_generated_one(tmp_path: Path) -> None:
    copy = tmp_path / "runbook.md"
    shutil.copy(ROOT / "docs" / "runbook.md", copy)
    acl.update_runbook(copy)
    assert copy.read_text() == (ROOT / "docs" / "runbook.md").read_text(), "run: danbao acl --runbook docs/runbook.md"


def test_the_deploy_files_hold_the_generated_script() -> None:
    assert (ROOT / "deploy" / "kafka" / "acls.sh").read_text() == acl.kafka_acls(FOUND), \
        "run: danbao acl --format kafka-acls > deploy/kafka/acls.sh"
    assert (ROOT / "deploy" / "k8s" / "kafka-acls-job.yaml").read_text() == acl.k8s_job(FOUND), \
        "run: danbao acl --format k8s > deploy/k8s/kafka-acls-job.yaml"
    config_map, job = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "kafka-acls-job.yaml").read_text())
    assert config_map["data"]["acls.sh"] == acl.kafka_acls(FOUND)
    items = {i["key"]: i["path"] for i in job["spec"]["template"]["spec"]["volumes"][1]["secret"]["items"]}
    assert {f"kafka-password-{p.name}" for p in FOUND} <= set(items)
