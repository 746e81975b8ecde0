"""Message templates (Jinja2), one file per template and language under ``templates/<lang>/``.

A template defines three blocks: ``subject`` (e-mail subject, push title), ``short`` (SMS and
push text) and, optionally, ``body`` (the e-mail; ``short`` when absent). E-mails are wrapped
in ``_email.txt``. Templates are plain text (no HTML, so nothing to escape); an undefined
variable is an error, never a silent blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from shared.business_days import CHINA
from shared.contracts.notifications import Channel, Language

FOLDER = Path(__file__).parent / "templates"
SMS_SIGNATURE = {Language.ZH_CN: "【担保】", Language.EN: "[Danbao] "}

LABELS: dict[Language, dict[str, str]] = {
    Language.ZH_CN: {
        "buyer": "买家", "merchant": "商家",
        "changed_mind": "不想要了", "ordered_by_mistake": "拍错了", "payment_trouble": "付款遇到问题", "buyer_other": "其他原因",
        "out_of_stock": "缺货", "price_changed": "价格变动", "cannot_fulfil": "无法履约", "merchant_other": "其他原因",
        "insufficient_balance": "余额不足", "wrong_details": "支付信息有误", "network_error": "网络错误",
        "provider_timeout": "支付机构未及时响应", "account_closed": "结算账户已销户", "already_shipped": "商品已发货",
        "buyer_confirmed": "买家已确认收货", "auto_confirmed": "超时自动确认收货",
        "cancelled_by_buyer": "买家取消订单", "cancelled_by_merchant": "商家取消订单",
        "platform": "平台", "risk_rejected": "风控审核未通过",
        "payment": "付款", "payout": "提现", "cancellation": "取消订单",
        "qr_code": "扫码支付", "payment_link": "支付链接", "in_app": "App 内支付",
        "order_expired": "订单已超时关闭", "order_cancelled": "订单已取消", "already_paid": "订单已由另一笔付款支付",
        "superseded_attempt": "已有更新的付款尝试",
        # disputes: why the buyer asks, how it was agreed, what was ruled, what it rests on, how the case ended
        "not_received": "未收到货", "not_as_described": "与描述不符", "damaged": "商品损坏", "price_difference": "价格不符",
        "other": "其他原因",
        "merchant_accepted": "商家同意", "counter_offer_accepted": "买家接受了商家提出的金额",
        "merchant_silent": "商家逾期未处理，视为同意",
        "full_refund": "全额退款", "partial_refund": "部分退款", "reject": "驳回退款申请",
        "agreed": "双方协商一致", "ruled": "平台裁决",
        "resolved": "已解决", "unverified": "退款未核实", "withdrawn": "买家已撤回申请",
        "not_escalated": "未在期限内申请平台介入",
        "buyer_silent": "买家逾期未答复，视为接受商家提出的金额",
        "cancelled_before_shipment": "订单发货前已取消，商家余额不足，由平台转为退款",
        "return_not_shipped": "买家未在期限内退货",
        "merchant_balance_short": "商家余额不足，平台已转为退款申请并先行赔付", "case_open": "订单有进行中的退款案件",
        "amount_mismatch": "退款金额与订单不符", "already_settled": "订单已结算或已退款", "no_hold": "未找到该订单的付款",
        "merchant_confirmed": "商家已确认收到", "deadline_passed": "商家逾期未确认，视为已收到",
    },
    Language.EN: {
        "buyer": "buyer", "merchant": "merchant",
        "changed_mind": "changed mind", "ordered_by_mistake": "ordered by mistake", "payment_trouble": "trouble paying",
        "buyer_other": "other reason", "out_of_stock": "out of stock", "price_changed": "price changed",
        "cannot_fulfil": "cannot fulfil", "merchant_other": "other reason",
        "insufficient_balance": "insufficient balance", "wrong_details": "wrong payment details", "network_error": "network error",
        "provider_timeout": "the payment provider did not answer in time", "account_closed": "settlement account closed",
        "already_shipped": "the goods have shipped",
        "buyer_confirmed": "the buyer confirmed receipt", "auto_confirmed": "receipt confirmed automatically",
        "cancelled_by_buyer": "cancelled by the buyer", "cancelled_by_merchant": "cancelled by the merchant",
        "platform": "platform", "risk_rejected": "rejected after a risk review",
        "payment": "payment", "payout": "payout", "cancellation": "cancellation",
        "qr_code": "QR code", "payment_link": "payment link", "in_app": "in-app payment",
        "order_expired": "the order had expired", "order_cancelled": "the order was cancelled",
        "already_paid": "the order was already paid", "superseded_attempt": "a newer payment attempt replaced it",
        "not_received": "not received", "not_as_described": "not as described", "damaged": "damaged",
        "price_difference": "price difference", "other": "other reason",
        "merchant_accepted": "the merchant accepted", "counter_offer_accepted": "the buyer accepted the merchant's offer",
        "merchant_silent": "the merchant did not answer in time, which accepts the request",
        "full_refund": "full refund", "partial_refund": "partial refund", "reject": "refund refused",
        "agreed": "agreed by buyer and merchant", "ruled": "ruled by Danbao",
        "resolved": "resolved", "unverified": "refund not verified", "withdrawn": "withdrawn by the buyer",
        "not_escalated": "not escalated in time",
        "buyer_silent": "you did not answer the merchant's offer in time, which accepts it",
        "cancelled_before_shipment": "cancelled before shipment; the merchant's balance could not refund it, so Danbao does",
        "return_not_shipped": "the goods were not sent back in time",
        "merchant_balance_short": "the merchant's balance cannot refund it; Danbao made it a refund case and pays first",
        "case_open": "a refund case is open on the order", "amount_mismatch": "the refund does not match the order",
        "already_settled": "the order was settled or refunded already", "no_hold": "no payment was found for the order",
        "merchant_confirmed": "the merchant confirmed receipt", "deadline_passed": "the merchant did not confirm in time",
    },
}


def _language(context: Context) -> Language:
    return Language(context["lang"])


def _fen_text(fen: int, currency: str, language: Language) -> str:
    sign, fen = ("-" if fen < 0 else ""), abs(fen)
    number = f"{sign}{fen // 100:,}.{fen % 100:02d}"
    if language is Language.ZH_CN and currency == "CNY":
        return f"¥{number}"
    return f"{currency} {number}"


@pass_context
def money(context: Context, value: Any) -> str:
    """A Money object (``{"amount": fen, "currency": "CNY"}``) as ``¥129.00`` / ``CNY 129.00``."""
    return _fen_text(int(value["amount"]), str(value.get("currency", "CNY")), _language(context))


@pass_context
def fen(context: Context, value: int) -> str:
    """An amount in fen (CNY), as ``money`` shows it."""
    return _fen_text(int(value), "CNY", _language(context))


@pass_context
def china_time(context: Context, value: datetime) -> str:
    local = value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    return f"{local}（北京时间）" if _language(context) is Language.ZH_CN else f"{local} (China time)"


@pass_context
def label(context: Context, value: Any) -> str:
    """A reason or method code in the reader's language (the code itself if there is no label)."""
    code = str(getattr(value, "value", value))
    return LABELS[_language(context)].get(code, code)


ENVIRONMENT = Environment(
    loader=FileSystemLoader(FOLDER), undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
)
ENVIRONMENT.filters.update(money=money, fen=fen, china_time=china_time, label=label)


@dataclass(frozen=True)
class Rendered:
    subject: str
    short: str
    body: str
    language: Language

    def for_channel(self, channel: Channel) -> dict[str, str]:
        """What the channel sends: SMS a signed text, push a title and text, e-mail a subject and body."""
        if channel is Channel.SMS:
            return {"text": SMS_SIGNATURE[self.language] + self.short}
        if channel is Channel.PUSH:
            return {"title": self.subject, "text": self.short}
        if channel is Channel.EMAIL:
            return {"subject": self.subject, "text": ENVIRONMENT.get_template(f"{self.language.value}/_email.txt").render(body=self.body)}
        raise ValueError(f"{channel} messages are not rendered from templates")


def render(template: str, language: Language, data: dict[str, Any]) -> Rendered:
    """Render ``template`` in ``language`` with the event's fields."""
    compiled = ENVIRONMENT.get_template(f"{language.value}/{template}.txt")
    context = compiled.new_context({**data, "lang": language.value})

    def block(name: str) -> str:
        return "".join(compiled.blocks[name](context)).strip()

    short = block("short")
    return Rendered(block("subject"), short, block("body") if "body" in compiled.blocks else short, language)
