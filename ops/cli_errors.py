"""Bad input to a ``danbao`` command (a missing file, invalid JSON, an unreachable broker, a message its
contract refuses) ends with one line on standard error and exit status 2, never a traceback. A bug still
shows its traceback."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import typer
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from pydantic import ValidationError

BAD_INPUT = 2


class BadInput(Exception):
    """What the user gave cannot be used; the message says what and where, in one line."""


def one_line(exc: BaseException) -> str | None:
    """The one line that explains ``exc`` to the user, or None if it is not bad input (a bug: let it show)."""
    if isinstance(exc, BadInput):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a folder, not a file"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"cannot read {exc.filename}: permission denied"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError)):
        from shared.settings import PlatformSettings

        try:
            where = PlatformSettings().kafka_bootstrap
        except ValueError:
            where = "DANBAO_KAFKA_BOOTSTRAP"
        return (f"cannot reach the Kafka broker at {where} (is the platform running? `danbao dev` prints the "
                f"address to export as DANBAO_KAFKA_BOOTSTRAP)")
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "the document"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"invalid {exc.title}: {where}: {first.get('msg')}{more}"
    return None


def read_json(path: str, text: str | None = None) -> Any:
    """A JSON document from a file (or ``text`` read from it already), refused in one line naming the file."""
    try:
        return json.loads(text if text is not None else open(path, encoding="utf-8").read())  # noqa: SIM115
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


class DanbaoTyper(typer.Typer):
    """The ``danbao`` command: bad input is one line and exit 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The Kafka client logs each failed connection attempt; a command says it once, itself. (`danbao serve`
        # configures its own logging, aiokafka's warnings included.)
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - sorted below: bad input is explained, anything else raised
            message = one_line(exc)
            if message is None:
                raise
        # Clients whose start failed are garbage now; their "unclosed" notices are not the user's concern.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        sys.stderr.write(f"danbao: {message}\n")
        sys.exit(BAD_INPUT)
