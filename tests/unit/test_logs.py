from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter, correlation_id


def test_log_lines_are_json_with_the_current_correlation_id() -> None:
    record = logging.LogRecord("danbao.consumer", logging.INFO, __file__, 1, "rejected %s", ("payments.order.pay",), None)
    token = correlation_id.set("flow-O-1")
    try:
        line = json.loads(JsonFormatter("payments").format(record))
    finally:
        correlation_id.reset(token)
    assert line["correlation_id"] == "flow-O-1"
    assert line["service"] == "payments" and line["msg"] == "rejected payments.order.pay" and line["level"] == "info"
    assert "correlation_id" not in json.loads(JsonFormatter("payments").format(record))
