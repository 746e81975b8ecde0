"""A service's AsyncAPI document, per channel: FastStream generates the document from the running code; this
rewrites each channel to list only the message types that travel on its topic (FastStream gives one subscriber's
channels the union of all its topics), one message per type with its whole envelope's schema, an example
envelope, the Kafka key and headers and where the correlation id is, and adds the production server (SASL_SSL)
beside the development one. Served at ``/docs/asyncapi.json`` and written to ``docs/asyncapi/`` by the same code.
"""

from __future__ import annotations

import copy
import json
import types
import typing
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from shared.contracts import CONTRACTS
from shared.contracts.catalog import TopicContract

T0 = datetime(2026, 12, 7, 8, 30, tzinfo=timezone.utc)
KEY = {"type": "string", "description": "The aggregate the message is about (an order, merchant, case, payout, code or party "
       "id, as the payload names it; the control topic uses `clock`, `roster` or the service): one key's messages "
       "keep their order."}
HEADERS = {"type": "object", "properties": {"type": {"type": "string", "description": "The message's `type` again, so a "
           "consumer skips types it does not handle without decoding them (every outbox sets it)."}}}
PRODUCTION = {"host": "kafka-0.kafka.danbao.svc:9093", "protocol": "kafka-secure", "protocolVersion": "3.7",
              "description": "Production: Apache Kafka over SASL_SSL (SCRAM-SHA-512), each process its own principal "
                             "under the ACLs of docs/runbook.md.",
              "security": [{"$ref": "#/components/securitySchemes/scram"}]}
SCRAM = {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 over TLS; the password from a file "
         "(`DANBAO_KAFKA_SASL_PASSWORD_FILE`)."}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or the one member of ``Model | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        return members[0]
    return None


def sample(model: type[BaseModel]) -> dict[str, Any]:
    """A payload built from the examples its contract documents (a time without one: two days after T0). Optional
    parts are filled in when that makes a valid whole, else left out (a rule across fields may want them absent)."""
    values: dict[str, Any] = {}
    optional: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if field.examples:
            values[name] = field.examples[0]
        elif (inner := _model_in(annotation)) is not None:
            values[name] = sample(inner)
            if not field.is_required() and field.default is None:
                optional.add(name)
        elif origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            values[name] = [sample(args[0])]
        elif annotation is datetime:
            values[name] = T0 + timedelta(days=2)
    for attempt in (values, {k: v for k, v in values.items() if k not in optional}):
        try:
            return model.model_validate(attempt).model_dump(mode="json")
        except ValidationError:
            continue
    raise ValueError(f"the examples of {model.__name__} do not make a valid payload: give its fields examples that agree")


def example_envelope(contract: TopicContract, type_name: str, producer: str) -> dict[str, Any]:
    payload = contract.payloads[type_name]
    actors = getattr(payload, "ACTORS", ())
    actor = {"kind": actors[0].value, "id": "M-1001" if actors[0].value == "merchant" else
             {"buyer": "B-2001", "operator": "OP-1"}.get(actors[0].value, "ADM-1")} if actors else {"kind": "system", "id": producer}
    document = {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"danbao/{type_name}")), "type": type_name, "version": 1,
                "occurred_at": T0.isoformat().replace("+00:00", "Z"), "producer": producer if not actors else "client",
                "correlation_id": "c0ffee00-0000-4000-8000-000000000001", "actor": actor, "data": sample(payload)}
    if actors:
        document["token"] = "eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiLi4uIn0.eyJpc3MiOiIuLi4ifQ.c2lnbmF0dXJl"
    return document


def refine(spec: dict[str, Any], service: str, handled: dict[str, set[str]]) -> dict[str, Any]:
    """``spec``: FastStream's document; ``handled``: per consumed topic, the types this service acts on."""
    spec = copy.deepcopy(spec)
    components = spec.setdefault("components", {})
    messages: dict[str, Any] = components.setdefault("messages", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    replaced: dict[str, dict[str, str]] = {}  # channel id -> {message name: message id}
    envelopes = []
    for channel_id, channel in spec["channels"].items():
        contract = CONTRACTS.get(channel["address"])
        if contract is None:
            continue
        for old in channel["messages"].values():
            messages.pop(old["$ref"].rsplit("/", 1)[-1], None)
        names: dict[str, str] = {}
        for type_name, envelope in contract.envelopes.items():
            message_id = f"{channel['address']}:{type_name}"
            names[type_name.replace(".", "_")] = message_id
            envelopes.append((message_id, envelope))
            payload = contract.payloads[type_name]
            messages[message_id] = {
                "name": type_name, "title": type_name, "contentType": "application/json",
                "summary": (payload.__doc__ or type_name).strip().split("\n")[0],
                "payload": {},  # the envelope schema's reference, once every schema is named (below)
                "correlationId": {"location": "$message.payload#/correlation_id",
                                  "description": "Shared by every message of one business flow."},
                "headers": HEADERS, "bindings": {"kafka": {"key": KEY, "bindingVersion": "0.5.0"}},
                "examples": [{"name": type_name, "payload": example_envelope(contract, type_name, service)}]}
        channel["messages"] = {name: {"$ref": f"#/components/messages/{message_id}"} for name, message_id in names.items()}
        acted = handled.get(channel["address"])
        channel["description"] = contract.description + (
            f" {service} acts on: {', '.join(f'`{t}`' for t in sorted(acted))}; other types it skips unread."
            if acted is not None and set(acted) != set(contract.payloads) else "")
        channel["servers"] = [{"$ref": "#/servers/development"}, {"$ref": "#/servers/production"}]
        replaced[channel_id] = names
    for operation in spec.get("operations", {}).values():
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        if channel_id in replaced:
            operation["messages"] = [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in replaced[channel_id]]
    unique = list(dict.fromkeys(envelope for _, envelope in envelopes))
    refs, definitions = models_json_schema([(e, "validation") for e in unique], ref_template="#/components/schemas/{model}")
    schemas.update(definitions.get("$defs", {}))
    for message_id, envelope in envelopes:
        messages[message_id]["payload"] = {"$ref": refs[(envelope, "validation")]["$ref"]}
    _drop_unreferenced(spec)
    spec["servers"]["production"] = PRODUCTION
    components.setdefault("securitySchemes", {})["scram"] = SCRAM
    return spec


def _drop_unreferenced(spec: dict[str, Any]) -> None:
    """Remove schemas nothing points at any more (FastStream's union payloads)."""
    schemas = spec["components"]["schemas"]
    while True:
        text = json.dumps({k: v for k, v in spec.items() if k != "components"}) + json.dumps(
            {k: v for k, v in spec["components"].items() if k != "schemas"}) + json.dumps(schemas)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def asyncapi_html(document: dict[str, Any]) -> str:
    """The AsyncAPI project's standalone viewer of ``document`` (its script and style from their CDN)."""
    from faststream.specification.asyncapi.site import ASYNCAPI_CSS_DEFAULT_URL, ASYNCAPI_JS_DEFAULT_URL

    config = {"schema": document, "config": {"show": {"sidebar": True, "servers": True, "operations": True, "messages": True,
                                                      "schemas": True}, "expand": {"messageExamples": True}}}
    embedded = json.dumps(config).replace("</", "<\\/")  # no "</script>" inside the script
    title = document.get("info", {}).get("title", "AsyncAPI")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="stylesheet" href="{ASYNCAPI_CSS_DEFAULT_URL}"></head><body><div id="asyncapi"></div>'
            f'<script src="{ASYNCAPI_JS_DEFAULT_URL}"></script><script>window.AsyncApiStandalone.render('
            f'{embedded}, document.getElementById("asyncapi"));</script></body></html>')
