"""Event streams for the audit's tests, as the platform would publish them: the services' own domain functions
decide, the contracts carry it (``Platform``), and one valid stream with every kind of lifecycle (``platform()``)."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from services.disputes import domain as cases
from services.escrow import domain as escrow
from services.notifications.domain import notification_id
from shared.contracts import bank
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer
from shared.contracts import notifications as n
from shared.contracts import onboarding as ob
from shared.contracts import payments as p
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.money import Money

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
Message = dict[str, Any]


class Platform:
    """Publishes, step by step, what the services would: their domain functions decide, the contracts carry it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.orders: dict[str, p.OrderCreated] = {}
        self.holds: dict[str, escrow.Hold] = {}
        self.cases: dict[str, cases.Case] = {}
        self.balances: Counter[str] = Counter()

    # -- publishing and finding -----------------------------------------------------------------

    def emit(self, producer: str, *payloads: Payload) -> None:
        self.messages += [Envelope(type=x.TYPE, producer=producer, actor=Actor.system(producer), occurred_at=NOW,  # type: ignore[attr-defined]
                                   data=x).model_dump(mode="json") for x in payloads]

    def post(self, *entries: escrow.JournalEntry | None) -> None:
        for entry in filter(None, entries):
            self.balances.update({line.account: line.amount for line in entry.lines})
            self.emit("escrow", e.LedgerEntryPosted(entry_id=f"JE-{uuid.uuid4().hex[:20]}", order_id=entry.order_id,
                                                    kind=entry.kind, currency=entry.currency, lines=list(entry.lines)))

    def find(self, cls: type[Payload], **match: Any) -> Message:
        return next(m for m in self.messages if m["type"] == cls.TYPE and match.items() <= m["data"].items())  # type: ignore[attr-defined]

    def drop(self, cls: type[Payload], **match: Any) -> None:
        self.messages.remove(self.find(cls, **match))

    def again(self, cls: type[Payload], changes: dict[str, Any] | None = None, **match: Any) -> Message:
        """A copy of the first such event under a new event id, its data changed by ``changes``."""
        twin = copy.deepcopy(self.find(cls, **match))
        twin["event_id"] = str(uuid.uuid4())
        twin["data"].update(changes or {})
        self.messages.append(twin)
        return twin

    # -- orders, payments, holds ----------------------------------------------------------------

    def owed(self, merchant_id: str) -> int:
        return self.balances[escrow.merchant_recovery_receivable(merchant_id)]

    def available(self, merchant_id: str) -> int:
        return -self.balances[escrow.merchant_available(merchant_id)]

    def order(self, order_id: str, merchant: str = "M-1001", buyer: str = "B-2001", amount: int = 12900,
              guaranteed: bool = True) -> None:
        self.orders[order_id] = created = p.OrderCreated(
            order_id=order_id, merchant_id=merchant, buyer_id=buyer, amount=Money(amount=amount), guaranteed=guaranteed,
            auto_confirm_days=7, items=[p.OrderItem(sku="SKU-1", name="shoes", quantity=1, unit_price=amount)])
        self.emit("payments", created)

    def pay(self, order_id: str) -> None:
        o = self.orders[order_id]
        payment = p.PaymentSucceeded(order_id=order_id, intent_id=f"PI-{order_id}-1", merchant_id=o.merchant_id, buyer_id=o.buyer_id,
                                     amount=o.amount, fee=77, guaranteed=o.guaranteed, auto_confirm_days=7,
                                     method=p.PaymentMethod.QR_CODE, provider_txn_id="PSP-1")
        self.emit("payments", payment)
        booked = escrow.capture(payment, already_captured=False, owed=self.owed(o.merchant_id))
        assert booked is not None
        if booked.hold is not None:
            self.holds[order_id] = booked.hold
        self.emit("escrow", *booked.events)
        self.post(booked.entry)

    def hold(self, decision: escrow.HoldDecision) -> None:
        self.holds[decision.hold.order_id] = decision.hold
        self.emit("escrow", *decision.events)
        self.post(decision.entry)

    def ship(self, order_id: str) -> None:
        hold = self.holds[order_id]
        self.hold(escrow.record_shipment(hold, e.RecordShipment(order_id=order_id, carrier="SF", tracking_no="SF1"),
                                         Actor(kind=ActorKind.MERCHANT, id=hold.merchant_id), NOW))

    def release(self, order_id: str) -> None:
        hold = self.holds[order_id]
        self.hold(escrow.release(hold, "buyer_confirmed", self.owed(hold.merchant_id)))

    def paid_out(self, refund_id: str, order_id: str, amount: Money) -> None:
        journal, event = escrow.refund_paid_out(refund_id, order_id, self.orders[order_id].buyer_id, amount)
        self.emit("escrow", event)
        self.post(journal)

    def cancel(self, order_id: str) -> None:
        o, reason = self.orders[order_id], p.CancelReason.CHANGED_MIND
        self.emit("payments", p.RefundRequested(order_id=order_id, buyer_id=o.buyer_id, amount=o.amount, party="buyer", reason=reason))
        decision = escrow.refund_for_cancellation(self.holds[order_id], order_id, o.amount.amount, "cancelled_by_buyer")
        assert isinstance(decision, escrow.HoldDecision)
        self.hold(decision)
        self.emit("payments", p.OrderCancelled(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id, party="buyer",
                                               reason=reason, refunded=o.amount))
        self.paid_out(f"RF-{order_id}-{decision.hold.refunded}", order_id, o.amount)

    def expire_and_capture_late(self, order_id: str) -> None:
        o = self.orders[order_id]
        late = p.PaymentCapturedLate(order_id=order_id, intent_id=f"PI-{order_id}-1", merchant_id=o.merchant_id, buyer_id=o.buyer_id,
                                     amount=o.amount, provider_txn_id="PSP-2", reason="order_expired", message="refunded")
        self.emit("payments", p.OrderExpired(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id), late)
        booked = escrow.book_late_capture(late, already_booked=False)
        assert booked is not None
        self.emit("escrow", *booked.events)
        self.post(booked.entry)
        self.paid_out(booked.refund.refund_id, order_id, o.amount)

    def payout_everything(self, merchant_id: str) -> None:
        amount = Money(amount=self.available(merchant_id))
        journal, event = escrow.reserve_payout(f"PO-{merchant_id}", merchant_id, amount, amount.amount)
        self.emit("escrow", event)
        self.post(journal, escrow.payout_paid(merchant_id, amount))

    def activate(self, merchant_id: str, account_ref: str | None) -> None:
        account = dict(settlement_account_ref=account_ref, settlement_account_masked="6222 **** **** 0128",
                       settlement_account_kind="corporate", sealed_settlement_account="v1:k1:sealed") if account_ref else {}
        self.emit("onboarding", ob.MerchantActivated(merchant_id=merchant_id, industry="retail", verified=True, **account))

    def payout(self, payout_id: str, merchant_id: str, account_ref: str, transfer_at: datetime, amount: int = 10000) -> None:
        """Payments schedules a payout to the account and, when it is due, asks the bank to transfer it."""
        money = Money(amount=amount)
        self.emit("payments", p.PayoutScheduled(payout_id=payout_id, merchant_id=merchant_id, amount=money, transfer_at=transfer_at,
                                                business_days=1, account_ref=account_ref, account_masked="6222 **** **** 0128"),
                  bank.TransferRequested(payout_id=payout_id, merchant_id=merchant_id, account_ref=account_ref, amount=money,
                                         account_masked="6222 **** **** 0128", sealed_account="v1:k1:sealed"))

    # -- cases ----------------------------------------------------------------------------------

    def case(self, decision: cases.CaseDecision) -> list[Payload]:
        self.cases[decision.case.case_id] = decision.case
        self.emit("disputes", *decision.events, *filter(None, [decision.claim]))
        return decision.events

    def open_case(self, case_id: str, order_id: str, requested: int) -> None:
        o, hold = self.orders[order_id], self.holds[order_id]
        view = cases.OrderView(order_id=order_id, buyer_id=o.buyer_id, merchant_id=o.merchant_id, paid=o.amount.amount,
                               currency="CNY", released_at=NOW if hold.status is escrow.HoldStatus.RELEASED else None)
        command = d.OpenCase(case_id=case_id, order_id=order_id, reason=d.CaseReason.PRICE_DIFFERENCE,
                             requested=Money(amount=requested), description="charged more than listed")
        self.case(cases.open_case(None, None, view, command, Actor(kind=ActorKind.BUYER, id=o.buyer_id), NOW, cases.Policy()))
        frozen = escrow.freeze(hold, case_id, NOW)
        if frozen is not None:
            self.hold(frozen)

    def accept(self, case_id: str) -> None:
        """The merchant accepts; escrow executes the refund order; a shortfall is compensated from the pool."""
        case = self.cases[case_id]
        answer = d.RespondToCase(case_id=case_id, response=d.MerchantResponse.ACCEPT)
        events = self.case(cases.respond(case, answer, Actor(kind=ActorKind.MERCHANT, id=case.merchant_id), NOW, cases.Policy()))
        ordered = next(x for x in events if isinstance(x, d.RefundOrdered))
        executed = escrow.execute_case_refund(ordered, self.holds.get(case.order_id), self.available(case.merchant_id))
        if executed.hold is not None:
            self.holds[case.order_id] = executed.hold
        self.emit("escrow", *executed.events)
        self.post(executed.entry)
        if executed.refund is not None:
            self.paid_out(executed.refund.refund_id, case.order_id, executed.refund.amount)
        for granted in self.case(cases.refund_executed(self.cases[case_id], ordered.refund_id, executed.from_hold, executed.from_merchant,
                                                       executed.shortfall, case.reason.value, 0, cases.Policy())):
            assert isinstance(granted, d.CompensationGranted)
            compensation = escrow.grant_compensation(granted, self.owed(granted.merchant_id))
            assert compensation is not None
            self.emit("escrow", compensation.event)
            self.post(compensation.paid, compensation.recovery)
            self.paid_out(compensation.refund.refund_id, case.order_id, granted.amount)

    def insurer_pays(self, case_id: str, approved: int) -> None:
        case = self.cases[case_id]
        claim_id = cases.claim_id(cases.refund_id(case_id, 1))
        decided = d.ClaimDecisionRecorded(**case.parties(), claim_id=claim_id, decision="partial",
                                          claimed=case.money(case.compensated), approved=case.money(approved))
        paid = d.ClaimPaymentRecorded(**case.parties(), claim_id=claim_id, amount=case.money(approved))
        self.emit("disputes", decided, paid)
        self.post(escrow.claim_approved(decided, self.owed(case.merchant_id)), escrow.claim_paid(paid))

    def close(self, case_id: str) -> None:
        for day in (1, 2, 3):
            self.case(cases.verification_day(self.cases[case_id], day, NOW))
        unfrozen = escrow.unfreeze(self.holds[self.cases[case_id].order_id], case_id, NOW)
        if unfrozen is not None:
            self.hold(unfrozen)

    def notify(self, source: Message, recipient: str = "buyer", recipient_id: str = "B-2001", channel: str = "sms") -> None:
        role, via = n.PartyKind(recipient), n.Channel(channel)
        self.emit("notifications", n.NotificationSent(
            notification_id=notification_id(source["event_id"], role, recipient_id, via), source_event_id=source["event_id"],
            source_type=source["type"], recipient=role, recipient_id=recipient_id, channel=via, template=f"x.{recipient}",
            language=n.Language.ZH_CN, to_masked="138****5678", attempts=1))


def platform() -> Platform:
    w = Platform()
    w.order("O-HAPPY")
    w.pay("O-HAPPY")
    w.ship("O-HAPPY")
    w.release("O-HAPPY")
    w.order("O-CANCEL", buyer="B-2002")
    w.pay("O-CANCEL")
    w.cancel("O-CANCEL")
    w.order("O-CASE")  # 38 yuan back from the hold, the rest released after the case
    w.pay("O-CASE")
    w.ship("O-CASE")
    w.open_case("C-CASE", "O-CASE", 3800)
    w.accept("C-CASE")
    w.close("C-CASE")
    w.release("O-CASE")
    w.order("O-COMP", merchant="M-1002", buyer="B-2003")  # released, withdrawn, then refunded: the pool pays
    w.pay("O-COMP")
    w.ship("O-COMP")
    w.release("O-COMP")
    w.payout_everything("M-1002")
    w.open_case("C-COMP", "O-COMP", 12900)
    w.accept("C-COMP")
    w.insurer_pays("C-COMP", 6450)
    w.close("C-COMP")
    w.order("O-NEXT", merchant="M-1002", buyer="B-2004", amount=20000)  # the merchant's next sale repays the rest
    w.pay("O-NEXT")
    w.ship("O-NEXT")
    w.release("O-NEXT")
    w.order("O-SHIP")
    w.pay("O-SHIP")
    w.ship("O-SHIP")
    w.order("O-VERIFY")  # a case still in its three-day verification: live
    w.pay("O-VERIFY")
    w.open_case("C-VERIFY", "O-VERIFY", 1000)
    w.accept("C-VERIFY")
    w.order("O-UNPAID")
    w.order("O-EXPIRED")
    w.expire_and_capture_late("O-EXPIRED")
    w.order("O-DIRECT", guaranteed=False)
    w.pay("O-DIRECT")
    released = w.find(e.HoldReleased, order_id="O-HAPPY")
    w.notify(released)
    w.notify(released, "merchant", "M-1001", "push")
    w.notify(w.find(e.HoldRefunded, order_id="O-CANCEL"), recipient_id="B-2002")
    w.activate("M-1003", "SA-1003")
    w.payout("PO-1003-1", "M-1003", "SA-1003", T_PLUS_1)  # Tuesday 24 November 2026, 09:00 China time
    w.payout("PO-1001-1", "M-1001", "SA-DEV-M-1001", T_PLUS_1)  # a merchant payments seeds in dev and test mode
    return w


T_PLUS_1 = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
