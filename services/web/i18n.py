"""What the pages say, in zh-CN (the default) and en; money in yuan, times in China time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.business_days import CHINA
from shared.timers import as_utc

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, tuple[str, str]] = {
    "brand": ("担保收银台", "Danbao cashier"),
    "console": ("担保运营台", "Danbao console"),
    "verified": ("已认证商户", "Verified merchant"),
    "unverified": ("未认证", "Not verified"),
    "amount": ("金额", "Amount"),
    "amount_yuan": ("付款金额（元）", "Amount (yuan)"),
    "items": ("商品", "Items"),
    "guarantee": ("一键担保（免费）", "One-click guarantee (free)"),
    "guarantee_help": ("资金由平台托管，确认收货后才付给商户。", "The platform holds the money until you confirm receipt."),
    "guarantee_unavailable": ("此商户不提供担保交易", "This merchant does not offer the guarantee"),
    "method": ("支付方式", "Payment method"),
    "method.qr_code": ("扫码支付", "QR code"),
    "method.payment_link": ("链接支付", "Payment link"),
    "method.in_app": ("APP支付", "In-app"),
    "pay": ("确认支付", "Pay"),
    "phone": ("手机号", "Mobile number"),
    "send_code": ("获取验证码", "Send code"),
    "code": ("短信验证码", "SMS code"),
    "code_sent": ("验证码已发送至", "Code sent to"),
    "sign_in": ("登录", "Sign in"),
    "sign_in_to_pay": ("请先用手机号登录再付款", "Sign in with your mobile number to pay"),
    "sign_out": ("退出", "Sign out"),
    "signed_in_as": ("已登录", "Signed in"),
    "bad_phone": ("请输入11位手机号", "Enter an 11-digit mainland mobile number"),
    "bad_code": ("验证码错误或已过期", "Wrong or expired code"),
    "too_many_codes": ("发送过于频繁，请稍后再试", "Too many codes sent; try again later"),
    "sms_failed": ("短信发送失败，请稍后再试", "The SMS could not be sent; try again later"),
    "code_unknown": ("正在准备收银台，请稍候…", "Preparing the cashier, one moment…"),
    "code_revoked": ("此收款码已被商户停用", "The merchant has revoked this code"),
    "code_expired": ("此收款码已过期", "This code has expired"),
    "code_used": ("此收款码已完成付款", "This code has already been paid"),
    "bad_amount": ("请输入正确金额", "Enter a valid amount"),
    "my_orders": ("我的订单", "My orders"),
    "order": ("订单", "Order"),
    "merchant": ("商户", "Merchant"),
    "status": ("状态", "Status"),
    "timeline": ("进度", "Timeline"),
    "processing": ("正在处理，请稍候…", "Working on it…"),
    "status.created": ("待付款", "Awaiting payment"),
    "status.paid": ("已付款", "Paid"),
    "status.held": ("已付款，资金由平台担保中，等待商户发货", "Paid: the platform holds the money until delivery"),
    "status.shipped": ("商户已发货", "Shipped"),
    "status.released": ("交易完成，已付款给商户", "Complete: the merchant has been paid"),
    "status.completed": ("交易完成", "Complete"),
    "status.refunded": ("已退款", "Refunded"),
    "status.failed": ("支付失败", "Payment failed"),
    "status.expired": ("订单已过期", "Order expired"),
    "status.cancelled": ("订单已取消", "Order cancelled"),
    "frozen": ("退款处理中，资金已冻结", "Refund in progress: the money is frozen"),
    "carrier": ("物流", "Carrier"),
    "auto_confirm_at": ("自动确认收货时间", "Receipt is confirmed automatically at"),
    "confirm_receipt": ("确认收货", "Confirm receipt"),
    "request_refund": ("申请退款", "Request a refund"),
    "refunded": ("已退款", "Refunded"),
    "refund_paid": ("退款已原路退回", "Refund paid back"),
    "reason": ("原因", "Reason"),
    "reason.not_received": ("未收到货", "Not received"),
    "reason.not_as_described": ("货不对板", "Not as described"),
    "reason.damaged": ("商品破损", "Damaged"),
    "reason.price_difference": ("差价", "Price difference"),
    "reason.other": ("其他", "Other"),
    "refund_amount": ("退款金额（元）", "Refund (yuan)"),
    "description": ("问题描述", "What happened"),
    "evidence": ("凭证", "Evidence"),
    "evidence_file": ("上传凭证（图片或PDF）", "Upload evidence (image or PDF)"),
    "evidence_description": ("凭证说明", "What it shows"),
    "submit": ("提交", "Submit"),
    "case": ("退款申请", "Refund case"),
    "case.awaiting_merchant": ("等待商户处理", "Waiting for the merchant"),
    "case.awaiting_buyer": ("商户提出了新的退款金额", "The merchant offers another amount"),
    "case.negotiation_failed": ("商户拒绝了退款申请", "The merchant rejected the request"),
    "case.in_arbitration": ("平台介入处理中", "The platform is arbitrating"),
    "case.agreed": ("已协商一致", "Agreed"),
    "case.ruled": ("平台已裁决", "The platform has ruled"),
    "case.verifying": ("三天核实期", "Three-day verification"),
    "case.awaiting_return": ("请先退货：寄回商品并填写运单号", "Send the goods back and give the waybill"),
    "case.return_in_transit": ("退货运输中，等待商户确认收货", "The return is on its way: the merchant confirms its arrival"),
    "return_by": ("退货期限", "Send it back by"),
    "confirm_by": ("商户确认收货期限", "The merchant confirms by"),
    "return_tracking": ("退货运单", "Return waybill"),
    "tracking_no": ("运单号", "Tracking number"),
    "send_return": ("提交退货运单", "Give the waybill"),
    "rule_by": ("裁决期限", "Rule by"),
    "default_ruling_at": ("默认裁决时间", "Default ruling at"),
    "case.closed": ("已结束", "Closed"),
    "respond_by": ("商户处理期限", "The merchant answers by"),
    "counter_offer": ("商户提议退款", "The merchant offers"),
    "accept": ("同意", "Accept"),
    "reject": ("不同意", "Reject"),
    "note": ("留言", "Note"),
    "escalate": ("申请平台介入", "Ask the platform to step in"),
    "escalate_by": ("可申请平台介入至", "You may ask the platform until"),
    "proposal": ("规则建议", "Rule proposal"),
    "ruling": ("裁决", "Ruling"),
    "feedback_question": ("您对处理结果满意吗？", "Are you satisfied with the outcome?"),
    "satisfied": ("满意", "Satisfied"),
    "unsatisfied": ("不满意，需要再退款", "Not satisfied: I need a further refund"),
    "further_amount": ("还需退款（元）", "Further refund (yuan)"),
    "feedback_thanks": ("感谢您的反馈", "Thank you for your feedback"),
    "answer_by": ("请在此时间前答复", "Please answer by"),
    "refused": ("操作未成功", "Not done"),
    "back": ("返回", "Back"),
    "not_found": ("没有找到", "Not found"),
    "forbidden": ("无权访问", "Not allowed"),
    "language": ("English", "中文"),
    "china_time": ("北京时间", "China time"),
    "staff": ("工作人员", "Staff"),
    "dev_accounts": ("开发账号（仅开发和测试模式）", "Development accounts (dev and test mode only)"),
    "sso": ("使用企业账号登录", "Sign in with single sign-on"),
    "desk.reviews": ("商户审核", "Merchant reviews"),
    "desk.cases": ("纠纷裁决", "Case desk"),
    "desk.deadletters": ("死信", "Dead letters"),
    "desk.ledger": ("账本", "Ledger"),
    "desk.reports": ("商户日报", "Merchant day report"),
    "desk.risk": ("风控审核", "Risk reviews"),
    "risk_rule": ("风控规则", "Rule"),
    "risk_subject": ("对象", "Held"),
    "risk_figures": ("触发数据", "Measured / limit"),
    "risk_release": ("放行", "Release"),
    "risk_reject": ("拒绝", "Reject"),
    "risk_blocked": ("已拦截", "Blocked"),
    "status.risk_review": ("风控审核中，暂未扣款", "Held for a risk review: nothing charged yet"),
    "due_at": ("审核期限", "Due"),
    "overdue": ("已超时", "Overdue"),
    "checks": ("自动检查", "Automatic checks"),
    "registry": ("工商登记", "Credit registry"),
    "risk_score": ("风险分", "Risk score"),
    "approve": ("通过", "Approve"),
    "reject_application": ("驳回", "Reject"),
    "request_documents": ("补充材料", "Request documents"),
    "reasons": ("理由", "Reasons"),
    "decided_by": ("处理人", "Decided by"),
    "rule": ("裁决", "Rule"),
    "decision.full_refund": ("全额退款", "Full refund"),
    "decision.partial_refund": ("部分退款", "Partial refund"),
    "decision.reject": ("驳回退款", "Reject the refund"),
    "return_required": ("需先退货", "Goods go back first"),
    "replay": ("重放", "Replay"),
    "replayed": ("已重放", "Replayed"),
    "balances": ("账户余额", "Account balances"),
    "trial_balance": ("试算平衡", "Trial balance"),
    "debits": ("借方合计", "Debits"),
    "credits": ("贷方合计", "Credits"),
    "balanced": ("平衡", "Balanced"),
    "unbalanced": ("不平衡", "Not balanced"),
    "entries": ("分录数", "Entries"),
    "day": ("日期", "Day"),
    "show": ("查看", "Show"),
    "download_csv": ("下载CSV", "Download CSV"),
    "nothing": ("暂无", "Nothing here"),
    "roles": ("角色", "Roles"),
}

STEPS: dict[str, tuple[str, str]] = {
    "payments.order.created": ("订单已创建", "Order created"),
    "payments.intent.created": ("已发起支付", "Payment started"),
    "payments.payment.succeeded": ("支付成功", "Payment succeeded"),
    "payments.payment.failed": ("支付失败", "Payment failed"),
    "payments.payment.captured_late": ("迟到的扣款", "A late charge"),
    "payments.order.expired": ("订单过期", "Order expired"),
    "payments.order.cancelled": ("订单取消", "Order cancelled"),
    "payments.refund.requested": ("已申请退款", "Refund asked"),
    "payments.risk.flagged": ("风控审核", "Risk review"),
    "payments.risk.decided": ("风控审核完成", "Risk review decided"),
    "escrow.hold.created": ("资金已由平台担保", "The platform holds the money"),
    "escrow.shipment.recorded": ("商户已发货", "Shipped"),
    "escrow.hold.released": ("已付款给商户", "Paid to the merchant"),
    "escrow.hold.refunded": ("担保资金已退回", "Refunded from the hold"),
    "escrow.hold.frozen": ("资金冻结", "Money frozen"),
    "escrow.hold.unfrozen": ("资金解冻", "Money unfrozen"),
    "escrow.case_refund.executed": ("退款已执行", "Refund executed"),
    "escrow.compensation.paid": ("平台先行赔付", "Paid first by the platform"),
    "escrow.refund.paid_out": ("退款已到账", "Refund paid back"),
    "escrow.merchant.credited": ("已付款给商户", "Paid to the merchant"),
    "escrow.late_capture.booked": ("迟到扣款将退回", "A late charge will be refunded"),
    "disputes.case.opened": ("申请退款", "Refund requested"),
    "disputes.evidence.added": ("补充凭证", "Evidence added"),
    "disputes.case.merchant_responded": ("商户回复", "The merchant answered"),
    "disputes.counter_offer.answered": ("买家回复商户提议", "The buyer answered the offer"),
    "disputes.negotiation.agreed": ("协商一致", "Agreed"),
    "disputes.negotiation.failed": ("协商失败", "Negotiation failed"),
    "disputes.case.escalated": ("平台介入", "Escalated to the platform"),
    "disputes.case.ruled": ("平台裁决", "Ruled"),
    "disputes.case.arbitration_overdue": ("裁决超时，已转主管", "Arbitration overdue: with the supervisors"),
    "disputes.return.requested": ("请退货", "Return requested"),
    "disputes.return.shipped": ("买家已寄回", "Returned by the buyer"),
    "disputes.return.received": ("商户已收到退货", "Return received"),
    "disputes.refund.ordered": ("平台下达退款", "Refund ordered"),
    "disputes.compensation.granted": ("先行赔付", "Priority compensation"),
    "disputes.claim.decided": ("保险理赔结果", "Insurer decided"),
    "disputes.claim.paid": ("保险已赔付", "Insurer paid"),
    "disputes.verification.started": ("开始三天核实", "Verification started"),
    "disputes.verification.refund_checked": ("核实退款到账", "Refund checked"),
    "disputes.verification.feedback_requested": ("请您反馈", "Feedback asked"),
    "disputes.feedback.received": ("已收到反馈", "Feedback received"),
    "disputes.case.reopened": ("重新协商", "Negotiation reopened"),
    "disputes.case.closed": ("退款申请结束", "Case closed"),
}


# The fields a timeline step shows, and which of them only staff see (the merchant's fee and net, internal ids).
FIELDS: dict[str, tuple[str, str]] = {
    "amount": ("金额", "Amount"), "fee": ("手续费", "Fee"), "net": ("商户实收", "Net to the merchant"),
    "reason": ("原因", "Reason"), "carrier": ("物流", "Carrier"), "tracking_no": ("运单号", "Tracking number"),
    "auto_confirm_at": ("自动确认收货时间", "Auto-confirm at"), "method": ("支付方式", "Method"),
    "failure_reason": ("失败原因", "Why it failed"), "requested": ("申请金额", "Asked for"),
    "response": ("回复", "Answer"), "round": ("轮次", "Round"), "accepted": ("接受", "Accepted"),
    "decision": ("裁决", "Decision"), "reasons": ("理由", "Reasons"), "arbitrator_id": ("裁决人", "Arbitrator"),
    "outcome": ("结果", "Outcome"), "refunded": ("已退款", "Refunded"), "remaining": ("仍担保", "Still held"),
    "from_hold": ("来自担保资金", "From the hold"), "from_merchant": ("来自商户余额", "From the merchant's balance"),
    "shortfall": ("缺口", "Shortfall"), "message": ("说明", "Message"), "respond_by": ("商户处理期限", "Merchant answers by"),
    "escalate_by": ("可申请平台介入至", "Escalation possible until"), "answer_by": ("请在此前答复", "Answer by"),
    "satisfied": ("满意", "Satisfied"), "rule": ("规则", "Rule"), "proposed": ("建议", "Proposed"),
    "basis": ("依据", "Basis"), "how": ("方式", "How"), "verified": ("核实", "Verified"), "note": ("留言", "Note"),
    "party": ("提交方", "Party"), "by": ("处理人", "By"), "case_id": ("退款申请", "Case"), "day3_at": ("结束时间", "Final at"),
    "kind": ("类型", "Kind"), "rule_by": ("裁决期限", "Rule by"), "return_by": ("退货期限", "Send back by"),
    "confirm_by": ("商户确认期限", "Merchant confirms by"), "default_ruling_at": ("默认裁决时间", "Default ruling at"),
    "return_required": ("需先退货", "Goods back first"), "origin": ("发起方", "Opened by"),
    "observed": ("测得", "Observed"), "threshold": ("上限", "Limit"),
}
STAFF_ONLY = {"fee", "net", "from_merchant", "shortfall", "case_id", "round", "proposed", "rule", "arbitrator_id", "by", "origin"}


def pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def translate(key: str, lang: str) -> str:
    pair = TEXT.get(key)
    return pick(pair, lang) if pair else key


def step_label(type_: str, lang: str) -> str:
    pair = STEPS.get(type_)
    return pick(pair, lang) if pair else type_


def yuan(fen: int | None, currency: str = "CNY") -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    symbol = "¥" if currency == "CNY" else f"{currency} "
    return f"{sign}{symbol}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def china_time(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return as_utc(moment).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def step_details(summary: str, lang: str, for_buyer: bool = False) -> list[tuple[str, str]]:
    """A step's fields as (label, value) for the timeline: money in yuan, times in China time; a buyer sees
    neither the merchant's fee nor the platform's internal ids."""
    fields: dict[str, Any] = json.loads(summary or "{}")
    out = []
    for name, value in fields.items():
        if for_buyer and name in STAFF_ONLY:
            continue
        if name == "method" and isinstance(value, str):
            value = translate(f"method.{value}", lang)
        elif isinstance(value, dict) and "amount" in value:
            value = yuan(value["amount"], value.get("currency", "CNY"))
        elif name in ("fee", "net", "refunded", "remaining", "from_hold", "from_merchant", "shortfall") and isinstance(value, int):
            value = yuan(value)
        elif name.endswith(("_at", "_by")) and isinstance(value, str) and "T" in value:
            value = china_time(value)
        elif isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        out.append((pick(FIELDS[name], lang) if name in FIELDS else name, str(value)))
    return out


def parse_yuan(text: str | None) -> int | None:
    """Fen from what a person typed ("18.8", "18.80", "¥1,880"), or None when it is not a positive amount."""
    cleaned = (text or "").strip().replace("¥", "").replace(",", "").replace("，", "")
    if not cleaned or len(cleaned) > 12:
        return None
    whole, _, part = cleaned.partition(".")
    if not whole.isdigit() and whole != "" or (part and (not part.isdigit() or len(part) > 2)):
        return None
    fen = int(whole or "0") * 100 + int((part + "00")[:2] or "0")
    return fen if fen > 0 else None
