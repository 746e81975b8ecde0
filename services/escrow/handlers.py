"""Escrow use cases: load, decide with the domain, save + ledger + outbox."""

from __future__ import annotations

from collections.abc import Callable

from services.escrow import direct, domain, store
from services.escrow.config import EscrowSettings
from shared import timers
from shared.contracts import disputes, escrow, payments, psp
from shared.envelope import Envelope, Payload
from shared.timers import DurableTimer
from shared.unit_of_work import Undeliverable, UnitOfWork
from shared.workspace import prefetch

AUTO_CONFIRM = "auto-confirm"


class EscrowHandlers:
    def __init__(self, settings: EscrowSettings) -> None:
        self.settings = settings

    @prefetch((store.JournalEntryRow, lambda m: f"capture:{m.data.order_id}", "reference"))
    async def payment_succeeded(self, uow: UnitOfWork, message: Envelope) -> None:
        payment: payments.PaymentSucceeded = message.data
        reference = f"capture:{payment.order_id}"
        if await store.booked(uow.ws, reference):
            return
        owed = 0 if payment.guaranteed else await _owed(uow, payment.merchant_id, payment.amount.currency)
        booked = domain.capture(payment, already_captured=False, owed=owed)
        if booked is None:
            return
        if booked.hold is not None:
            await store.save_hold(uow.ws, booked.hold, uow.now)
        if booked.direct is not None:
            await store.save_direct(uow.ws, booked.direct, uow.now)
        await _post(uow, payment.order_id, booked.events, booked.entry, reference)

    @prefetch((store.HoldRow, lambda m: store.hold_key(m.data.order_id)))
    async def record_shipment(self, uow: UnitOfWork, message: Envelope) -> None:
        command: escrow.RecordShipment = message.data
        hold = await store.load_hold(uow.ws, command.order_id)
        paid = await store.load_direct(uow.ws, command.order_id) if hold is None else None
        if paid is not None:  # nothing held: the shipment only ends the right to cancel
            shipped = direct.record_shipment(paid, command, message.actor, uow.now)
            await store.save_direct(uow.ws, shipped.payment, uow.now)
            await _post(uow, command.order_id, shipped.events)
            return
        decision = domain.record_shipment(hold, command, message.actor, uow.now)
        await store.save_hold(uow.ws, decision.hold, uow.now)
        assert decision.hold.auto_confirm_at is not None
        await timers.schedule(uow, AUTO_CONFIRM, decision.hold.order_id, decision.hold.auto_confirm_at)
        await _post(uow, command.order_id, decision.events)

    @prefetch((store.HoldRow, lambda m: store.hold_key(m.data.order_id)),
              (DurableTimer, lambda m: timers.timer_key(AUTO_CONFIRM)(m.data.order_id)))
    async def confirm_receipt(self, uow: UnitOfWork, message: Envelope) -> None:
        command: escrow.ConfirmReceipt = message.data
        hold = await store.load_hold(uow.ws, command.order_id)
        owed = await _owed(uow, hold.merchant_id, hold.currency) if hold is not None else 0
        await _release(uow, domain.confirm_receipt(hold, command, message.actor, owed))

    async def auto_confirm_due(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        hold = await store.load_hold(uow.ws, timer.aggregate_id)
        owed = await _owed(uow, hold.merchant_id, hold.currency) if hold is not None else 0
        await _release(uow, domain.auto_confirm(hold, uow.now, owed))

    async def refund_requested(self, uow: UnitOfWork, message: Envelope) -> None:
        request: payments.RefundRequested = message.data
        hold = await store.load_hold(uow.ws, request.order_id)
        paid = await store.load_direct(uow.ws, request.order_id) if hold is None else None
        if paid is not None:
            await self._refund_direct(uow, paid, request)
            return
        decision = domain.refund_for_cancellation(hold, request.order_id, request.amount.amount, f"cancelled_by_{request.party}")
        if isinstance(decision, escrow.RefundRefused):
            await _post(uow, request.order_id, [decision])
            return
        await store.save_hold(uow.ws, decision.hold, uow.now)
        refund_id = f"RF-{request.order_id}-{decision.hold.refunded}"
        await _post(uow, request.order_id, decision.events, decision.entry, f"refund:{refund_id}")
        uow.emit(psp.REQUESTS, request.order_id, psp.RefundRequested(
            refund_id=refund_id, order_id=request.order_id, amount=request.amount, buyer_ref=request.buyer_id))

    async def _refund_direct(self, uow: UnitOfWork, paid: direct.DirectPayment, request: payments.RefundRequested) -> None:
        """A cancelled order paid without the guarantee: refunded from the merchant's balance and the fee, if it can."""
        available = -await store.balance(uow.ws, domain.merchant_available(paid.merchant_id), paid.currency)
        decision = direct.refund_for_cancellation(paid, request.amount.amount, f"cancelled_by_{request.party}", available)
        if isinstance(decision, escrow.RefundRefused):
            await _post(uow, request.order_id, [decision])
            return
        await store.save_direct(uow.ws, decision.payment, uow.now)
        refund_id = direct.refund_provider_id(request.order_id)
        await _post(uow, request.order_id, decision.events, decision.entry, f"refund:{refund_id}")
        uow.emit(psp.REQUESTS, request.order_id, psp.RefundRequested(
            refund_id=refund_id, order_id=request.order_id, amount=request.amount, buyer_ref=request.buyer_id))

    async def payment_captured_late(self, uow: UnitOfWork, message: Envelope) -> None:
        late: payments.PaymentCapturedLate = message.data
        reference = f"late-capture:{late.intent_id}"
        booked = domain.book_late_capture(late, await store.booked(uow.ws, reference))
        if booked is None:
            return
        await store.save_late_capture(uow.ws, booked.capture, uow.now)
        await _post(uow, late.order_id, booked.events, booked.entry, reference)
        uow.emit(psp.REQUESTS, late.order_id, booked.refund)

    async def refund_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        """The provider paid a refund: a cancelled hold's, a late capture's, a case refund's or a compensation's."""
        callback: psp.RefundCallback = message.data
        if not callback.signature_valid(self.settings.psp_callback_secret):
            raise Undeliverable("bad_signature", f"refund callback {callback.refund_id} is not signed by the provider")
        reference = f"refund-paid:{callback.refund_id}"
        if await store.booked(uow.ws, reference):
            return
        late = await store.load_late_capture(uow.ws, callback.refund_id)
        if late is not None:
            buyer_id = late.buyer_id
            await store.save_late_capture(uow.ws, domain.late_capture_refunded(late), uow.now)
        else:
            hold = await store.load_hold(uow.ws, callback.order_id)
            paid = await store.load_direct(uow.ws, callback.order_id) if hold is None else None
            found = hold.buyer_id if hold is not None else paid.buyer_id if paid is not None else await _refunded_buyer(
                uow, callback.refund_id)
            if found is None:
                return
            buyer_id = found
        journal, paid = domain.refund_paid_out(callback.refund_id, callback.order_id, buyer_id, callback.amount)
        await _post(uow, callback.order_id, [paid], journal, reference)

    # -- payouts: keyed by merchant id, so one merchant's payouts are decided one at a time ----

    async def payout_requested(self, uow: UnitOfWork, message: Envelope) -> None:
        request: payments.PayoutRequested = message.data
        reference = f"payout-reserved:{request.payout_id}"
        if await store.booked(uow.ws, reference):
            return
        available = -await store.balance(uow.ws, domain.merchant_available(request.merchant_id), request.amount.currency)
        journal, event = domain.reserve_payout(request.payout_id, request.merchant_id, request.amount, available)
        await _post(uow, request.merchant_id, [event], journal, reference)

    async def payout_settled(self, uow: UnitOfWork, message: Envelope) -> None:
        settled: payments.PayoutSettled = message.data
        reference = f"payout-paid:{settled.payout_id}"
        if not await store.booked(uow.ws, reference):
            await _post(uow, settled.merchant_id, [], domain.payout_paid(settled.merchant_id, settled.amount), reference)

    async def payout_failed(self, uow: UnitOfWork, message: Envelope) -> None:
        failed: payments.PayoutFailed = message.data
        reference = f"payout-returned:{failed.payout_id}"
        if failed.reserved and not await store.booked(uow.ws, reference):
            await _post(uow, failed.merchant_id, [], domain.payout_returned(failed.merchant_id, failed.amount), reference)

    # -- cases: keyed by order id, like the disputes events that cause them -----------------------

    async def case_opened(self, uow: UnitOfWork, message: Envelope) -> None:
        opened: disputes.CaseOpened = message.data
        hold = await store.load_hold(uow.ws, opened.order_id)
        if hold is None:
            await _direct(uow, opened.order_id, lambda paid: direct.freeze(paid, opened.case_id))
            return
        decision = domain.freeze(hold, opened.case_id, uow.now)
        if decision is None:
            return
        await store.save_hold(uow.ws, decision.hold, uow.now)
        if decision.hold.status is domain.HoldStatus.SHIPPED:
            await timers.cancel(uow, AUTO_CONFIRM, decision.hold.order_id)
        await _post(uow, opened.order_id, decision.events)

    async def case_closed(self, uow: UnitOfWork, message: Envelope) -> None:
        closed: disputes.CaseClosed = message.data
        hold = await store.load_hold(uow.ws, closed.order_id)
        if hold is None:
            await _direct(uow, closed.order_id, lambda paid: direct.unfreeze(paid, closed.case_id))
            return
        decision = domain.unfreeze(hold, closed.case_id, uow.now)
        if decision is None:
            return
        await store.save_hold(uow.ws, decision.hold, uow.now)
        if decision.hold.status is domain.HoldStatus.SHIPPED and decision.hold.auto_confirm_at is not None:
            await timers.schedule(uow, AUTO_CONFIRM, decision.hold.order_id, decision.hold.auto_confirm_at)
        await _post(uow, closed.order_id, decision.events)

    async def refund_ordered(self, uow: UnitOfWork, message: Envelope) -> None:
        order: disputes.RefundOrdered = message.data
        if await store.case_refund_executed(uow.ws, order.refund_id):
            return
        hold = await store.load_hold(uow.ws, order.order_id)
        currency = order.amount.currency
        available = -await store.balance(uow.ws, domain.merchant_available(order.merchant_id), currency)
        executed = domain.execute_case_refund(order, hold, available)
        await store.save_case_refund(uow.ws, order.order_id, order.case_id, order.refund_id, order.buyer_id,
                                     order.merchant_id, currency, executed, uow.now)
        if executed.hold is not None:
            await store.save_hold(uow.ws, executed.hold, uow.now)
        if hold is None:
            await _direct(uow, order.order_id, lambda paid: direct.case_refund_ordered(paid, order.amount.amount))
        await _post(uow, order.order_id, executed.events, executed.entry, f"case-refund:{order.refund_id}")
        if executed.refund is not None:
            uow.emit(psp.REQUESTS, order.order_id, executed.refund)

    async def compensation_granted(self, uow: UnitOfWork, message: Envelope) -> None:
        granted: disputes.CompensationGranted = message.data
        reference = f"compensation-paid:{granted.compensation_id}"
        if granted.amount.amount <= 0 or await store.booked(uow.ws, reference):
            return
        owed = await _owed(uow, granted.merchant_id, granted.amount.currency)
        compensation = domain.grant_compensation(granted, owed)
        if compensation is None:
            return
        await _post(uow, granted.order_id, [compensation.event], compensation.paid, reference)
        await _post(uow, granted.order_id, [], compensation.recovery, f"recovery-booked:{granted.compensation_id}")
        uow.emit(psp.REQUESTS, granted.order_id, compensation.refund)

    async def claim_decided(self, uow: UnitOfWork, message: Envelope) -> None:
        decided: disputes.ClaimDecisionRecorded = message.data
        reference = f"claim-decided:{decided.claim_id}"
        if decided.approved.amount <= 0 or await store.booked(uow.ws, reference):
            return
        owed = await _owed(uow, decided.merchant_id, decided.approved.currency)
        await _post(uow, decided.order_id, [], domain.claim_approved(decided, owed), reference)

    async def claim_paid(self, uow: UnitOfWork, message: Envelope) -> None:
        paid: disputes.ClaimPaymentRecorded = message.data
        reference = f"claim-paid:{paid.claim_id}"
        if paid.amount.amount <= 0 or await store.booked(uow.ws, reference):
            return
        await _post(uow, paid.order_id, [], domain.claim_paid(paid), reference)


async def _direct(uow: UnitOfWork, order_id: str,
                  change: Callable[[direct.DirectPayment], direct.DirectPayment | None]) -> None:
    """Apply ``change`` to the order's payment without the guarantee, if it has one (None: nothing changes)."""
    paid = await store.load_direct(uow.ws, order_id)
    changed = change(paid) if paid is not None else None
    if changed is not None:
        await store.save_direct(uow.ws, changed, uow.now)


async def _owed(uow: UnitOfWork, merchant_id: str, currency: str) -> int:
    """What the merchant owes back for priority compensation (the receivable's debit balance)."""
    return await store.balance(uow.ws, domain.merchant_recovery_receivable(merchant_id), currency)


async def _refunded_buyer(uow: UnitOfWork, refund_id: str) -> str | None:
    """The buyer a provider refund of a case refund or a compensation is paid to, from the entry that made the
    platform owe it (for an order without a hold)."""
    act = refund_id.removeprefix("RF-")
    for reference in (f"case-refund:{act}", f"compensation-paid:{act}"):
        account = await store.payable_account(uow.session, reference)
        if account is not None:
            return account.removeprefix("buyer_refunds_payable:")
    return None


async def _release(uow: UnitOfWork, decision: domain.HoldDecision) -> None:
    await store.save_hold(uow.ws, decision.hold, uow.now)
    await timers.cancel(uow, AUTO_CONFIRM, decision.hold.order_id)
    await _post(uow, decision.hold.order_id, decision.events, decision.entry, f"release:{decision.hold.order_id}")


async def _post(uow: UnitOfWork, key: str, events: list[Payload], journal: domain.JournalEntry | None = None,
          reference: str | None = None) -> None:
    """Emit the events and post the journal entry, all keyed by the aggregate (order or merchant)."""
    for event in events:
        uow.emit(escrow.EVENTS, key, event)
    if journal is not None:
        assert reference is not None
        entry_id = await store.post(uow.ws, journal, reference, uow.now)
        uow.emit(escrow.EVENTS, key, escrow.LedgerEntryPosted(
            entry_id=entry_id, order_id=journal.order_id, kind=journal.kind, currency=journal.currency, lines=list(journal.lines)))
