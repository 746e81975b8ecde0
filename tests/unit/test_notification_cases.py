"""The messages of a case's deadlines, the return step and orders without the guarantee, in zh-CN and en:
each tells the party who must act what by when, and what silence does."""

from __future__ import annotations

from datetime import timedelta

from shared.contracts import disputes, escrow
from shared.money import Money
from tests.unit.test_notifications import T0, _both, _dispute, sample


def test_every_waiting_state_tells_the_party_who_must_act_its_deadline_and_what_silence_does() -> None:
    countered = _dispute(disputes.MerchantResponded, response="counter_offer", amount=Money(amount=6000).model_dump(),
                         answer_by=T0 + timedelta(hours=72))
    zh, en = _both("merchant_responded.buyer", countered)
    assert "2026-11-26 16:00（北京时间） 前未答复视为接受" in zh and "by 2026-11-26 16:00 (China time); no answer accepts it" in en
    zh, en = _both("case_escalated.buyer", _dispute(disputes.CaseEscalated, rule_by=T0 + timedelta(days=7)))
    assert "在 2026-11-30 16:00（北京时间） 前裁决" in zh and "by 2026-11-30 16:00 (China time)" in en
    overdue = sample(disputes.ArbitrationOverdue)
    zh, en = _both("arbitration_overdue.buyer", overdue)
    assert "已转交仲裁主管" in zh and "R1-not-delivered 自动裁决：全额退款 ¥129.00" in zh
    assert "supervising arbitrator now handles it first" in en and "R1-not-delivered: full refund of CNY 129.00" in en
    by_default = _dispute(disputes.CaseRuled, by_default=True, arbitrator_id="system", followed_rule="R2-not-as-described",
                          return_required=True)
    zh, en = _both("case_ruled.buyer", by_default)
    assert "系统已按公开的仲裁规则 R2-not-as-described" in zh and "先将商品退回商家" in zh and "三天核实期" not in zh
    assert "the system ruled" in en and "send the goods back to the merchant first" in en and "three-day" not in en
    zh, en = _both("return_requested.buyer", sample(disputes.ReturnRequested))
    assert "2026-12-06 18:00（北京时间） 前将商品寄回" in zh and "by 2026-12-06 18:00 (China time)" in en
    zh, en = _both("return_shipped.merchant", sample(disputes.ReturnShipped))
    assert "逾期未确认，视为已收到" in zh and "they count as received" in en
    lapsed = _dispute(disputes.ReturnReceived, how="deadline_passed")
    assert "视为已收到" in _both("return_received.merchant", lapsed)[0]
    assert "count as back" in _both("return_received.buyer", lapsed)[1]
    closed = _dispute(disputes.CaseClosed, outcome="return_not_shipped", refunded=Money(amount=0).model_dump())
    assert "买家未在期限内退货" in _both("case_closed.buyer", closed)[0]
    silent = _dispute(disputes.NegotiationAgreed, how="buyer_silent")
    assert "买家逾期未答复，视为接受商家提出的金额" in _both("negotiation_agreed.buyer", silent)[0]


def test_a_cancellation_without_the_guarantee_reads_right_whether_refunded_or_made_a_case() -> None:
    zh, en = _both("direct_payment_refunded.merchant", sample(escrow.DirectPaymentRefunded))
    assert "从您的可用余额扣回" in zh and "¥0.77" in zh and "from your available balance" in en
    zh, en = _both("direct_order_shipped.buyer", sample(escrow.DirectOrderShipped))
    assert "发货后订单不能再取消" in zh and "can no longer be cancelled" in en
    made_a_case = _dispute(disputes.CaseOpened, origin="cancellation")
    zh, en = _both("case_opened.buyer", made_a_case)
    assert "平台已为您提交退款申请" in zh and "商家需在" not in zh and "Danbao asked the refund" in en
    zh, en = _both("case_opened.merchant", made_a_case)
    assert "无需您处理" in zh and "请在" not in zh and "Nothing is asked of you." in en
    refused = {"order_id": "O-1", "reason": "merchant_balance_short"}
    assert "商家余额不足，平台已转为退款申请并先行赔付" in _both("cancellation_refused.buyer", refused)[0]
