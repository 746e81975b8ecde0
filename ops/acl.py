"""Who may read and write which topic on the broker, generated from the code: each service's
``ServiceDefinition`` (what its FastStream broker subscribes to and declares it publishes: its events,
dead letters, control events, the outside systems' request topics), each simulator's request and reply
topics (one principal per outside system), plus the edges that send commands and the operators' tools.

``danbao acl`` prints the table (docs/runbook.md holds a copy between generated markers);
``danbao acl --format kafka-acls`` prints the script that creates the SCRAM users and grants the ACLs
(deploy/kafka/acls.sh and the Kubernetes ConfigMap hold copies; tests compare them with this).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.docs import SERVICE_APPS
from shared import topics
from shared.assertions import ISSUER_KINDS
from shared.contracts import CONTRACTS
from shared.settings import PlatformSettings

# The outside systems on Kafka and the simulator that stands in for each (the messaging gateways use HTTP).
OUTSIDE_SYSTEMS = {"psp": "psp-simulator", "bank": "bank-simulator", "registry": "registry-simulator",
                   "insurer": "insurer-simulator"}

# The edges that turn people's actions into commands: the token issuers of shared.assertions, each a broker
# principal of the same name that may write the command topics of the commands its actors may send
# (each command type's ACTORS), so the broker and the tokens tell one story.
EDGE_DESCRIPTIONS = {
    "merchant-gateway": "merchants' storefronts, apps and API",
    "buyer-app": "buyers' apps and checkout pages",
    "operator-console": "reviewers', arbitrators' and operators' console",
    "admin-console": "administrators' console (the staff roster)",
}


def _edges() -> dict[str, tuple[str, dict[str, tuple[str, ...]]]]:
    command_topics = [topics.commands(s) for s in topics.SERVICES] + [topics.CONTROL_COMMANDS]
    edges = {}
    for issuer, kinds in ISSUER_KINDS.items():
        sends = {topic: tuple(sorted(t for t, payload in CONTRACTS[topic].payloads.items() if set(payload.ACTORS) & kinds))
                 for topic in command_topics}
        edges[issuer] = (EDGE_DESCRIPTIONS[issuer], {topic: types for topic, types in sends.items() if types})
    return edges


EDGES = _edges()
OPERATORS = "danbao-ops"
# The web edge's process (services/web): it holds the buyer-app and operator-console keys, so it writes the
# command topics either may prove commands on; it reads the services' events, the control events and the dead letters.
WEB = "danbao-web"
ADMIN = "danbao-admin"  # super user of the bootstrap jobs (users, ACLs, topics); not in the table


def service_principal(service: str) -> str:
    return f"danbao-{service}"


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # service, outside system, edge, operators
    process: str | None  # the process that runs as it (`danbao serve <process>`), if the platform runs one
    reads: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # consumer groups it joins (READ)
    writes: tuple[str, ...] = ()
    described_groups: tuple[str, ...] = ()  # groups whose offsets it may look at (DESCRIBE)

    @property
    def user(self) -> str:
        return f"User:{self.name}"


def _usage(broker: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What a FastStream broker reads (topics, groups) and declares it writes."""
    reads = sorted({t for s in broker.subscribers for t in s.topic_names})
    groups = sorted({s.group_id for s in broker.subscribers if s.group_id})
    writes = sorted({p.topic for p in broker.publishers})
    return tuple(reads), tuple(groups), tuple(writes)


def principals() -> list[Principal]:
    """Every principal and its rights, read from the services' and simulators' own declarations."""
    found: list[Principal] = []
    with tempfile.TemporaryDirectory() as scratch:
        # Built, never started: the declarations are all this needs (PLAINTEXT whatever the environment says).
        platform = PlatformSettings.model_construct(kafka_bootstrap="kafka:9092", data_dir=Path(scratch))
        for service, module in SERVICE_APPS.items():
            runtime = importlib.import_module(module).build(platform=platform)
            found.append(Principal(service_principal(service), "service", service, *_usage(runtime.broker)))
        for system, process in OUTSIDE_SYSTEMS.items():
            app, _, _ = importlib.import_module(f"services.simulators.{system}").build(platform=platform)
            found.append(Principal(system, "outside system", process, *_usage(app.broker)))
        found.append(Principal(WEB, "edge", "web", *_usage(_web_broker(platform))))
    for edge, (_, commands) in EDGES.items():
        found.append(Principal(edge, "edge", None, writes=tuple(sorted(commands))))
    found.append(Principal(
        OPERATORS, "operators", None, reads=tuple(sorted(topics.all_topics())),
        writes=tuple(sorted([topics.commands(s) for s in topics.SERVICES] + [topics.CONTROL_COMMANDS])),
        described_groups=tuple(sorted({g for p in found for g in p.groups}))))
    return found


def _web_broker(platform: PlatformSettings) -> Any:
    """The web edge's declarations (its settings unchecked: only what it subscribes to and writes matters here)."""
    from services.web.app import WRITES, subscriptions
    from services.web.config import WebSettings
    from services.web.runtime import EdgeRuntime

    return EdgeRuntime(WebSettings.model_construct(), subscriptions(), WRITES, platform).broker


def edge_commands_unknown() -> list[str]:
    """Command types the edge table names that no contract knows (a test keeps this empty)."""
    return [f"{topic}: {t}" for _, commands in EDGES.values() for topic, types in commands.items()
            for t in types if t not in CONTRACTS[topic].types()]


# -- rendering ---------------------------------------------------------------------------------

SYSTEM_NAMES = {"psp": "payment provider", "bank": "bank", "registry": "enterprise credit registry", "insurer": "insurer"}


def _who(p: Principal) -> str:
    if p.kind == "service":
        return f"the {p.process} service"
    if p.kind == "outside system":
        return f"the {SYSTEM_NAMES.get(p.name, p.name)} (locally `{p.process}`)"
    if p.name == WEB:
        return "the web edge: buyers' cashier and the staff console (locally `web`)"
    if p.kind == "edge":
        return EDGES[p.name][0]
    return "operators' `danbao` commands"


def _codes(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def table(found: list[Principal] | None = None) -> str:
    """The ACL table (Markdown): every principal, what it reads (with its consumer groups) and writes."""
    found = found if found is not None else principals()
    lines = ["| principal | who | reads | consumer groups | writes |", "|---|---|---|---|---|"]
    for p in found:
        reads = "every platform topic" if p.name == OPERATORS else _codes(p.reads)
        groups = _codes(p.groups) + (" (describe: every service's)" if p.described_groups else "")
        lines.append(f"| `{p.user}` | {_who(p)} | {reads} | {groups} | {_codes(p.writes)} |")
    lines += ["", f"`User:{ADMIN}` (a super user) runs the bootstrap jobs: SCRAM users, these ACLs, topics. "
              "Nothing else may do anything (`allow.everyone.if.no.acl.found=false`)."]
    return "\n".join(lines) + "\n"


SCRIPT_HEAD = """#!/bin/sh
# Generated by `danbao acl --format kafka-acls` from the services' own declarations: do not edit.
# Creates each principal's SCRAM-SHA-512 credential from $PASSWORDS/kafka_password_<principal> (running it
# again with a new file rotates that password) and grants the principal's ACLs (adding an ACL twice is harmless).
# BOOTSTRAP: a listener the admin may use; ADMIN_CONFIG: the admin's client properties (User:danbao-admin,
# a super user); KAFKA_BIN: where kafka-configs.sh and kafka-acls.sh are.
set -eu
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
scram() {
  "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --alter \\
    --entity-type users --entity-name "$1" \\
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(cat "$PASSWORDS/kafka_password_$1")]"
}
acl() {
  "$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --add "$@"
}
"""


def _flags(flag: str, names: Iterable[str]) -> str:
    return " ".join(f"{flag} {n}" for n in names)


def kafka_acls(found: list[Principal] | None = None) -> str:
    """The shell script that creates every principal's SCRAM user and adds its ACLs (literal names only)."""
    found = found if found is not None else principals()
    lines = [SCRIPT_HEAD]
    for p in found:
        lines.append(f"# {p.user}: {_who(p).replace('`', '')}")
        lines.append(f"scram {p.name}")
        if p.reads:
            lines.append(f"acl --allow-principal {p.user} --operation Read {_flags('--topic', p.reads)}")
        if p.groups:
            lines.append(f"acl --allow-principal {p.user} --operation Read {_flags('--group', p.groups)}")
        if p.described_groups:
            lines.append(f"acl --allow-principal {p.user} --operation Describe {_flags('--group', p.described_groups)}")
        if p.writes:
            lines.append(f"acl --allow-principal {p.user} --operation Write {_flags('--topic', p.writes)}")
        lines.append("")
    return "\n".join(lines)


def update_runbook(path: Path) -> None:
    """Rewrite the runbook's generated ACL table from the code."""
    start, end = "<!-- acl:start (generated: danbao acl --runbook) -->", "<!-- acl:end -->"
    head, rest = path.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{table()}{end}{tail}")


K8S_JOB = """# Generated by `danbao acl --format k8s` (the script is `danbao acl --format kafka-acls`): do not edit.
# Creates every principal's SCRAM-SHA-512 user and its ACLs as User:danbao-admin; run it before the topic job,
# and again after changing a kafka-password-<principal> key of danbao-secrets (that rotates the password).
apiVersion: v1
kind: ConfigMap
metadata:
  name: danbao-kafka-acls
  namespace: danbao
data:
  acls.sh: |
{script}---
apiVersion: batch/v1
kind: Job
metadata:
  name: danbao-kafka-acls
  namespace: danbao
spec:
  backoffLimit: 5
  template:
    spec:
      restartPolicy: OnFailure
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: acls
          image: apache/kafka:4.1.1
          command: ["/bin/sh", "/etc/danbao-kafka/acls.sh"]
          env:
            - name: BOOTSTRAP
              valueFrom:
                configMapKeyRef:
                  name: danbao-config
                  key: DANBAO_KAFKA_BOOTSTRAP
            - name: ADMIN_CONFIG
              value: /run/secrets/kafka-admin.properties
            - name: PASSWORDS
              value: /run/secrets
          resources:
            requests:
              cpu: 100m
              memory: 256Mi
            limits:
              cpu: "1"
              memory: 512Mi
          volumeMounts:
            - name: script
              mountPath: /etc/danbao-kafka
              readOnly: true
            - name: secrets
              mountPath: /run/secrets
              readOnly: true
      volumes:
        - name: script
          configMap:
            name: danbao-kafka-acls
        - name: secrets
          secret:
            secretName: danbao-secrets
            items:
              - key: kafka-admin.properties
                path: kafka-admin.properties
              - key: kafka-ca.crt
                path: kafka_ca.pem
{passwords}"""


def k8s_job(found: list[Principal] | None = None) -> str:
    """deploy/k8s/kafka-acls-job.yaml: the script in a ConfigMap, and the Job running it with every password."""
    found = found if found is not None else principals()
    script = "".join(f"    {line}\n" if line else "\n" for line in kafka_acls(found).splitlines())
    passwords = "".join(f"              - key: kafka-password-{p.name}\n                path: kafka_password_{p.name}\n"
                        for p in found)
    return K8S_JOB.format(script=script, passwords=passwords)
