"""The notifications check.

notifications
    No two ``notifications.notification.sent`` (distinct event ids) for one ``notification_id``;
    no two notification ids sent for one (source event, recipient, recipient id, channel); none
    both sent and failed; each sent or failed one tells about an event on the topics read, of
    its ``source_type``.
"""

from __future__ import annotations

from ops.audit.core import CheckResult, Stream
from shared.contracts import notifications


def check(s: Stream, r: CheckResult) -> None:
    sent = s.once(r, notifications.NotificationSent, "notification_id")
    failed = {x.notification_id for x in s.all(notifications.NotificationFailed)}
    told: dict[tuple[str, str, str, str], str] = {}
    for notification_id, x in sent.items():
        r.checked += 1
        first = told.setdefault((x.source_event_id, x.recipient, x.recipient_id, x.channel), notification_id)
        r.expect(first == notification_id, f"{notification_id} and {first} both told {x.recipient} {x.recipient_id} "
                                           f"by {x.channel} about {x.source_type} {x.source_event_id}")
        r.expect(notification_id not in failed, f"{notification_id}: both sent and failed")
    for x in [*sent.values(), *s.all(notifications.NotificationFailed)]:
        source = s.by_id.get(x.source_event_id)
        r.expect(source is not None and source.type == x.source_type,
                 f"{x.notification_id}: tells about {x.source_type} {x.source_event_id}, which is not on the topics")
