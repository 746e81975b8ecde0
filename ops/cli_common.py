"""What the ``danbao`` command's modules share: the console for messages, the broker's address, yuan."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)


def bootstrap() -> str:
    from shared.settings import PlatformSettings

    return PlatformSettings().kafka_bootstrap


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"
