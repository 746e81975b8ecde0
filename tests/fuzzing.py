"""Bad messages for every topic a service takes orders from, as hypothesis strategies: its command
topic, the control topic and the signed callbacks of the outside systems it talks to. Shared by the
in-process fuzz (tests/handlers/test_fuzz.py) and the one through the broker and the real processes
(tests/integration/test_fuzz_platform.py).

Each strategy draws a ``Bad``: the bytes to send and what the service must answer: exactly one dead
letter, or exactly one ``<service>.command.rejected``, with one of the listed reasons (replays: nothing,
or the first outcome again). The commands are about the state ``tests/handlers/test_fuzz.py`` seeds:
order O-FZ-OPEN awaiting payment, holds O-FZ-HELD (with case C-FZ-1) and O-FZ-SHIPPED, hold O-FZ-FREE
in disputes, payout PO-FZ-1, application M-FZ-1 being checked; buyer B-2001 and merchant M-1001."""


from __future__ import annotations

import copy
import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st
from joserfc.jwk import OKPKey

from shared import topics
from shared.assertions import Signer, development_signer, issuer_for
from shared.contracts import control
from shared.contracts.common import ID_PATTERN, SignedCallback
from shared.envelope import ActorKind
from shared.sealing import SEALED_COMMANDS, SealedFields, development_public_jwks, is_sealed, seal, service_of
from tests import factories as f
from tests.fuzz_commands import (
    BANK_SECRET,
    BUYER,
    CALLBACKS,
    COMMANDS,
    CONTROL,
    DEAD,
    HUGE,
    INSURER_SECRET,
    MEGABYTE,
    MERCHANT,
    NOTHING,
    PSP_SECRET,
    REGISTRY_SECRET,
    REJECTED,
    REPEATED,
    Bad,
    Command,
    Path,
    Topic,
    open_case,
    signed,
    topics_of,
)

__all__ = ["CALLBACKS", "COMMANDS", "CONTROL", "DEAD", "MEGABYTE", "NOTHING", "PSP_SECRET", "REJECTED", "REPEATED", "Bad",
           "bad_messages", "broken", "categories", "check_answer", "forged", "open_case", "oversized", "refused", "replays",
           "signed", "topics_of", "undecodable", "unsealable"]


# -- building blocks ---------------------------------------------------------------------------

ID = re.compile(ID_PATTERN)
KINDS = [k.value for k in ActorKind]
KNOWN_IDS = [BUYER, MERCHANT, "M-1002", "B-OTHER", "M-FZ-1", "A-1", "R-1", "OP-1", "payments", "escrow"]
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}", fullmatch=True)
keys = st.one_of(st.none(), ids.map(str.encode), st.binary(max_size=40), st.text(min_size=150, max_size=300).map(str.encode))
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
# A value no field of any command accepts: never a string, number, bool, enum, Money, nor list of them.
alien = st.one_of(
    st.dictionaries(st.sampled_from(["zz", "🙂", "\x00", "[]"]), _json_leaf, min_size=1, max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["zz", "🙂"]), st.booleans(), max_size=2), min_size=1, max_size=3),
)
# Not a number: pydantic reads a numeric string of any length as a date-time (seconds since 1970).
huge_text = st.text(min_size=1, max_size=8).filter(lambda s: s.strip("0123456789.+-eE_ \t\n\r")).map(
    lambda s: s * (HUGE // len(s) + 1))
_SENTINEL = "\x00huge-number\x00"


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def walk(node: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every value in a JSON document with its path, containers before what they hold."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for name, value in items:
        yield from walk(value, (*path, name))


def _replace(document: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def _without(document: dict[str, Any], path: Path) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return changed


def _bad(topic: Topic, what: str, outcome: str, reasons: set[str] | frozenset[str], value: Any, key: bytes | None = None) -> Bad:
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return Bad(topic.contract.topic, value if isinstance(value, bytes) else encode(value), outcome, frozenset(reasons), key,
               event_id if isinstance(event_id, str) else None, what)


def _fresh(document: dict[str, Any]) -> dict[str, Any]:
    """The same command as a new message (its own event id), with a new token for what it now says."""
    fresh = {**document, "event_id": str(uuid.uuid4())}
    return f.sign(fresh) if "token" in document else fresh


def _payload(topic: Topic, command: Command) -> type:
    return topic.contract.payloads[command.document["type"]]


def _signed_topic(topic: Topic) -> bool:
    return any(issubclass(p, SignedCallback) for p in topic.contract.payloads.values())


# -- what can be wrong with a message ----------------------------------------------------------

def undecodable(topic: Topic) -> st.SearchStrategy[Bad]:
    """Bytes that are no JSON object at all, or an object without a usable ``type``."""
    raw = st.one_of(
        st.just(b"").map(lambda v: ("empty", v, "malformed_json")),
        st.binary(max_size=200).map(lambda b: ("not utf-8", b"\x80" + b, "malformed_json")),
        st.text(min_size=1).filter(_not_json).map(lambda s: ("not json", s.encode(), "malformed_json")),
        st.integers(5_000, 100_000).map(lambda n: ("nested too deeply", b"[" * n + b"]" * n, "malformed_json")),
        json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("json, not an object", encode(v), "unknown_type")),
        st.dictionaries(st.text(max_size=10), json_values, max_size=5).filter(lambda d: not isinstance(d.get("type"), str))
        .map(lambda d: ("object without a type", encode(d), "unknown_type")),
    )
    return st.tuples(raw, keys).map(lambda r: _bad(topic, r[0][0], DEAD, {r[0][2]}, r[0][1], r[1]))


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def broken(topic: Topic) -> st.SearchStrategy[Bad]:
    """A well-formed message made invalid in one place: envelope or payload."""
    return st.tuples(st.sampled_from(topic.commands), keys).flatmap(
        lambda ck: st.one_of(*_breakages(topic, ck[0])).map(lambda b: _bad(topic, b[0], DEAD, b[1], b[2], ck[1])))


def _breakages(topic: Topic, command: Command) -> list[st.SearchStrategy[tuple[str, set[str], Any]]]:
    doc, payload = _fresh(command.document), _payload(topic, command)
    # A changed but well-typed callback is no longer what the outside system signed.
    changed = {"invalid_payload", "bad_signature"} if _signed_topic(topic) else {"invalid_payload"}
    paths = [p for p, _ in walk(doc) if p]
    fields = ("data", "actor", "event_id", "occurred_at") + (() if topic.ignores_unknown_types else ("type",))
    strings = [p for p, v in walk(doc) if isinstance(v, str) and p and p[0] in fields]
    numbers = [p for p, v in walk(doc["data"], ("data",)) if isinstance(v, int) and not isinstance(v, bool)]
    money = [p for p, v in walk(doc["data"], ("data",)) if isinstance(v, dict) and "currency" in v]
    patterns = [(name, meta.pattern) for name, field in payload.model_fields.items() if name in doc["data"]
                for meta in field.metadata if getattr(meta, "pattern", None)]
    required = [name for name, field in payload.model_fields.items() if field.is_required() and name in doc["data"]]
    reason = lambda path: {"unknown_type"} if path == ("type",) else {"invalid_payload"}  # noqa: E731
    options = [
        st.sampled_from(["type", "producer", "actor", "data"]).map(lambda k: (f"no {k}", reason((k,)), _without(doc, (k,)))),
        st.tuples(st.sampled_from(paths), alien).map(lambda pa: (f"wrong type at {pa[0]}", reason(pa[0]), _replace(doc, *pa))),
        st.tuples(st.sampled_from(strings), huge_text).map(
            lambda ps: (f"huge {ps[0]}", changed if ps[0][0] == "data" else reason(ps[0]), _replace(doc, *ps))),
        st.integers(payload.VERSION + 1, 10**30).flatmap(lambda v: st.sampled_from([v, min(v, 10**6) + 0.0, str(v)])).map(
            lambda v: (f"version {v!r}", {"unsupported_version"}, {**doc, "version": v})),
        st.sampled_from([0, -1, "latest", None]).map(lambda v: (f"version {v!r}", {"invalid_payload"}, {**doc, "version": v})),
        st.text().filter(lambda t: t not in topic.contract.payloads).map(
            lambda t: ("unknown type", {"unknown_type"}, {**doc, "type": t})),
        st.text(max_size=20).filter(lambda k: k not in KINDS).map(
            lambda k: ("unknown actor kind", {"invalid_payload"}, _replace(doc, ("actor", "kind"), k))),
        st.sampled_from(["", "x" * 65]).map(lambda i: ("bad actor id", {"invalid_payload"}, _replace(doc, ("actor", "id"), i))),
        st.text(alphabet=st.characters(exclude_characters="0123456789abcdefABCDEF")).map(
            lambda e: ("bad event id", {"invalid_payload"}, {**doc, "event_id": e})),
        st.text(min_size=129, max_size=400).map(lambda k: ("long idempotency key", {"invalid_payload"}, {**doc, "idempotency_key": k})),
    ]
    if topic.ignores_unknown_types:
        options.pop(5)  # another consumer's type: skipped by design, not dead-lettered
    if required:
        options.append(st.sampled_from(required).map(lambda n: (f"no data.{n}", {"invalid_payload"}, _without(doc, ("data", n)))))
    if numbers:
        out_of_range = st.one_of(st.integers(max_value=-1), st.integers(min_value=10**13),
                                 st.floats().filter(lambda x: not (math.isfinite(x) and x == int(x))))
        options.append(st.tuples(st.sampled_from(numbers), out_of_range).map(
            lambda pn: (f"{pn[1]!r} at {pn[0]}", {"invalid_payload"}, _replace(doc, *pn))))
        options.append(st.tuples(st.sampled_from(numbers), st.integers(4_301, 20_000)).map(
            lambda pn: (f"{pn[1]}-digit number at {pn[0]}", {"malformed_json"}, _digits(_replace(doc, pn[0], _SENTINEL), pn[1]))))
    if money:
        options.append(st.tuples(st.sampled_from(money), st.text(max_size=6).filter(lambda c: not re.fullmatch(r"[A-Z]{3}", c))).map(
            lambda pc: (f"currency {pc[1]!r}", {"invalid_payload"}, _replace(doc, (*pc[0], "currency"), pc[1]))))
    if patterns:
        options.append(st.sampled_from(patterns).flatmap(lambda np: st.text(max_size=80).filter(
            lambda t: not re.fullmatch(np[1], t)).map(lambda t: (f"data.{np[0]} = {t!r}", changed, _replace(doc, ("data", np[0]), t)))))
    return options


def _digits(document: dict[str, Any], count: int) -> bytes:
    """The document with a number of ``count`` digits where the sentinel is (json cannot write one)."""
    return encode(document).replace(json.dumps(_SENTINEL).encode(), b"9" * count)


def refused(topic: Topic) -> st.SearchStrategy[Bad]:
    """Well-formed commands the service must refuse: from the wrong actor, or about what does not exist."""
    options = []
    wrong = [c for c in topic.commands if c.allowed and not all((k, None) in c.allowed for k in KINDS)]
    if wrong:
        options.append(st.tuples(st.sampled_from(wrong), st.sampled_from(KINDS), st.one_of(st.sampled_from(KNOWN_IDS), ids)).filter(
            lambda c: not _allowed(c[0], c[1], c[2])).map(lambda c: _bad(
                topic, f"{c[1]} {c[2]} sends {c[0].document['type']}", REJECTED,
                {"forbidden"} if c[1] != "system" else {"unauthenticated"},  # no issuer asserts system actors
                _fresh(_replace(c[0].document, ("actor",), {"kind": c[1], "id": c[2]})))))
    unknown = [c for c in topic.commands if c.missing]
    if unknown:
        options.append(st.tuples(st.sampled_from(unknown), ids.map(lambda i: f"ZZ-{i}")).map(
            lambda c: _bad(topic, f"{c[0].document['type']} about unknown {c[1]}", REJECTED, {c[0].missing[1]},  # type: ignore[index]
                           _fresh(_about(c[0], c[1])))))
    return st.one_of(*options)


def _allowed(command: Command, kind: str, actor_id: str) -> bool:
    return (kind, actor_id) in command.allowed or (kind, None) in command.allowed


def _about(command: Command, unknown: str) -> dict[str, Any]:
    """The command about ``unknown`` instead; a command its subject sends is sent by ``unknown`` too."""
    assert command.missing is not None
    name = command.missing[0]
    document = _replace(command.document, ("data", name), unknown)
    if document["actor"]["id"] == command.document["data"][name]:
        document = _replace(document, ("actor", "id"), unknown)
    return document


def forged(topic: Topic) -> st.SearchStrategy[Bad]:
    """A callback not signed by the outside system: unsigned, signed with another secret, or changed after signing."""
    def forge(command: Command, how: str, secret: str, extra: int) -> Bad:
        data = command.document["data"]
        if how == "tampered":
            money = next((name for name in ("amount", "approved") if name in data), None)
            changed = (_replace(command.document, ("data", money, "amount"), data[money]["amount"] + extra) if money else
                       _replace(command.document, ("data", "registered_name"), f"{data['registered_name']}{extra}"))
        else:
            signature = "" if how == "unsigned" else _payload(topic, command).model_validate(data).signed(secret).signature
            changed = _replace(command.document, ("data", "signature"), signature)
        return _bad(topic, f"{how} {command.document['type']}", DEAD, {"bad_signature"}, _fresh(changed))
    return st.builds(forge, st.sampled_from(topic.commands), st.sampled_from(["unsigned", "other secret", "tampered"]),
                     st.text(min_size=1, max_size=40).filter(lambda s: s not in (PSP_SECRET, BANK_SECRET, INSURER_SECRET, REGISTRY_SECRET)),
                     st.integers(1, 10**6))


def unauthenticated(topic: Topic) -> st.SearchStrategy[Bad]:
    """A well-formed command whose token does not prove it: none, garbage, another issuer's key, expired,
    for another service, lifted onto other data or another actor, or a token used before."""
    def spoil(command: Command, how: str, junk: str) -> Bad:
        document = _fresh(command.document)
        actor, kind = document["actor"], document["actor"]["kind"]
        if how == "no token":
            document.pop("token", None)
        elif how == "not a token":
            document["token"] = junk
        elif how == "other issuer's key":  # signed with a key the issuer never published
            signer = Signer(issuer_for(kind), OKPKey.generate_key("Ed25519", parameters={"kid": development_signer(issuer_for(kind)).key.kid}))
            document = signer.sign({k: v for k, v in document.items() if k != "token"}, roles=[kind])
        elif how == "unknown issuer":
            signer = Signer("somebody-else", OKPKey.generate_key("Ed25519", parameters={"kid": "k1"}))
            document = signer.sign({k: v for k, v in document.items() if k != "token"}, roles=[kind])
        elif how == "expired":
            document["token"] = development_signer(issuer_for(kind)).issue(
                kind=kind, subject=actor["id"], type_=document["type"], data=document["data"], roles=[kind], now=time.time() - 3600)
        elif how == "another audience":
            document["token"] = development_signer(issuer_for(kind)).issue(
                kind=kind, subject=actor["id"], type_=document["type"], data=document["data"], roles=[kind], audience="nobody")
        elif how == "bound to other data":
            document["data"] = {**document["data"], "unbound_extra": junk}  # ignored by the contract, not by the digest
        elif how == "bound to another actor":
            document["actor"] = {**actor, "id": actor["id"] + "X"}
        elif how == "issuer may not assert the kind":
            other = "buyer-app" if kind != "buyer" else "merchant-gateway"
            document["token"] = development_signer(other).issue(
                kind=kind, subject=actor["id"], type_=document["type"], data=document["data"], roles=[kind])
        return _bad(topic, f"{how}: {document['type']}", REJECTED, {"unauthenticated"}, document)
    signed = [c for c in topic.commands if "token" in c.document]
    return st.builds(spoil, st.sampled_from(signed), st.sampled_from(
        ["no token", "not a token", "other issuer's key", "unknown issuer", "expired", "another audience", "bound to other data",
         "bound to another actor", "issuer may not assert the kind"]), st.text(min_size=1, max_size=60))


def unsealable(topic: Topic) -> st.SearchStrategy[Bad]:
    """A command whose personal field will not open: plaintext, tampered with, sealed for another field or
    party, or to a key the service does not hold. Rejected (``unsealable_field``), the detail without the value."""
    sealed = [(c, name) for c in topic.commands for name in SEALED_COMMANDS.get(c.document["type"], SealedFields((), "")).fields
              if isinstance(c.document["data"].get(name), str)]

    def spoil(command: Command, name: str, how: str, text: str) -> Bad:
        data, spec = command.document["data"], SEALED_COMMANDS[command.document["type"]]
        party, service = data[spec.party_field], service_of(command.document["type"])
        others = [f for f in spec.fields if f != name] or ["elsewhere"]
        value = {
            "plaintext": lambda: text,
            "tampered": lambda: _tampered(data[name]),
            "another field": lambda: seal(text, others[0], party, development_public_jwks(service)),
            "another party": lambda: seal(text, name, f"{party}-OTHER", development_public_jwks(service)),
            "another key": lambda: seal(text, name, party, development_public_jwks(f"not-{service}")),
        }[how]()
        return _bad(topic, f"{how} {command.document['type']} {name}", REJECTED, {"unsealable_field"},
                    _fresh(_replace(command.document, ("data", name), value)))
    # Distinctive enough to look for in what the service answers; any text, JWE-shaped or not, is refused alike.
    plain = st.from_regex(r"[A-Za-z0-9@+._ -]{10,60}", fullmatch=True).filter(lambda t: not is_sealed(t))
    return st.tuples(st.sampled_from(sealed), st.sampled_from(["plaintext", "tampered", "another field", "another party", "another key"]),
                     plain).map(lambda c: spoil(c[0][0], c[0][1], c[1], c[2]))


def _tampered(value: str) -> str:
    """A sealed value with one character of its ciphertext changed."""
    parts = value.split(".")
    parts[3] = ("B" if parts[3][0] == "A" else "A") + parts[3][1:]
    return ".".join(parts)


def bad_messages(topic: Topic) -> st.SearchStrategy[Bad]:
    """Anything that must be dead-lettered on ``topic``."""
    return st.one_of(undecodable(topic), broken(topic), *([forged(topic)] if _signed_topic(topic) else []))


def categories(topic: Topic) -> dict[str, st.SearchStrategy[Bad]]:
    """One strategy per kind of badness, for a sample that has each."""
    found = {"undecodable": undecodable(topic), "broken": broken(topic)}
    if _signed_topic(topic):
        found["forged"] = forged(topic)
    if any(c.allowed or c.missing for c in topic.commands) and topic.contract is not control.COMMANDS:
        found["refused"] = refused(topic)
    if any("token" in c.document for c in topic.commands):
        found["unauthenticated"] = unauthenticated(topic)
    if any(c.document["type"] in SEALED_COMMANDS for c in topic.commands):
        found["unsealable"] = unsealable(topic)
    return found


def oversized(topic: Topic, size: int) -> list[Bad]:
    """A command whose one text field makes it ``size`` bytes, and as many bytes that are not UTF-8."""
    command = topic.commands[0]
    path = next(p for p, v in walk(command.document["data"], ("data",)) if isinstance(v, str))
    document = _fresh(command.document)
    padding = size - len(encode(document))
    filled = _replace(document, path, "x" * padding)
    return [_bad(topic, f"{size} bytes at {path}", DEAD, {"invalid_payload"} | ({"bad_signature"} if _signed_topic(topic) else set()), filled),
            _bad(topic, f"{size} bytes, not UTF-8", DEAD, {"malformed_json"}, b"\xff" * size)]


def replays(topic: str, seeded: list[dict[str, Any]]) -> st.SearchStrategy[Bad]:
    """A command already handled, again: the same message (even changed) does nothing; the same idempotency
    key and content under a new event id re-sends the first outcome; the key with other content is refused."""
    def again(document: dict[str, Any], how: str, actor_id: str, key: bytes | None) -> Bad:
        if how == "same message":
            return Bad(topic, encode(document), NOTHING, key=key, what=how)
        if how == "same event id, other content":
            return Bad(topic, encode({**document, "data": {"changed": True}}), NOTHING, key=key, what=how)
        if how == "same key and content":
            return Bad(topic, encode(_fresh(document)), REPEATED, key=key, what=how)
        other = _fresh(_replace(document, ("actor", "id"), actor_id))
        return Bad(topic, encode(other), REJECTED, frozenset({"idempotency_key_reused"}), key, other["event_id"], how)
    return st.builds(again, st.sampled_from(seeded),
                     st.sampled_from(["same message", "same event id, other content", "same key and content", "same key, other actor"]),
                     ids.filter(lambda i: i not in KNOWN_IDS), keys)


def check_answer(bad: Bad, service: str, answers: list[tuple[str, dict[str, Any]]], *, any_rejection_reason: bool = False) -> None:
    """``answers``: (topic, envelope) of everything ``service`` published for ``bad``: exactly one dead letter
    or one rejection of it, with a listed reason (``any_rejection_reason``: any, when the state is not the seeded one)."""
    expected = (topics.dead_letters(service), "deadletter.recorded") if bad.outcome == DEAD else (
        topics.events(service), f"{service}.command.rejected")
    assert [(t, m["type"]) for t, m in answers] == [expected], f"{bad!r}: {service} answered {[(t, m['type'], m['data']) for t, m in answers]}"
    data = answers[0][1]["data"]
    if bad.outcome == DEAD:
        assert data["source_topic"] == bad.topic, f"{bad!r}: {data}"
    else:
        assert data["command_event_id"] == bad.event_id, f"{bad!r}: {data}"
    assert data["reason"] and data["detail"], f"{bad!r}: {data}"
    assert (any_rejection_reason and bad.outcome == REJECTED) or data["reason"] in bad.reasons, f"{bad!r}: {data['reason']}: {data['detail']}"
