"""Disputes use cases: load the case (and the order it is about), decide with the domain, then save
the case, its history, timers, refund orders and claims, and the events, in one unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.disputes import domain, store
from services.disputes.config import DisputesSettings
from shared import timers
from shared.contracts import disputes, escrow, insurer
from shared.envelope import Envelope
from shared.timers import DurableTimer
from shared.workspace import prefetch
from shared.unit_of_work import Rejected, Undeliverable, UnitOfWork


def policy_of(settings: DisputesSettings) -> domain.Policy:
    return domain.Policy(
        merchant_response=timedelta(hours=settings.merchant_response_hours),
        counter_offer_answer=timedelta(hours=settings.counter_offer_answer_hours),
        escalation_window=timedelta(days=settings.escalation_window_days),
        arbitration_business_days=settings.arbitration_business_days,
        default_ruling_business_days=settings.default_ruling_business_days,
        return_shipment=timedelta(days=settings.return_shipment_days),
        return_receipt=timedelta(days=settings.return_receipt_days),
        after_sale=timedelta(days=settings.after_sale_days),
        case_cap=settings.compensation_case_cap,
        buyer_yearly_cap=settings.compensation_buyer_yearly_cap,
    )


# The order an escrow event is about, read for the whole batch at once.
ORDER_READ = prefetch((store.OrderRow, lambda m: m.data.order_id))


class DisputesHandlers:
    def __init__(self, settings: DisputesSettings) -> None:
        self.settings = settings
        self.policy = policy_of(settings)

    # -- commands ---------------------------------------------------------------------------

    async def open_case(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.OpenCase = message.data
        order = await store.load_order(uow.ws, command.order_id)
        existing = await store.load_case(uow.session, command.case_id)
        already_open = await store.open_case_on(uow.session, command.order_id) if order else None
        decision = domain.open_case(existing, already_open, order, command, message.actor, uow.now, self.policy)
        await store.add_evidence(uow.session, command.case_id, "buyer", command.evidence, uow.now)
        await self._apply(uow, decision)

    async def add_evidence(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.AddEvidence = message.data
        decision = domain.add_evidence(await store.load_case(uow.session, command.case_id), command, message.actor)
        added: disputes.EvidenceAdded = decision.events[0]  # type: ignore[assignment]
        await store.add_evidence(uow.session, command.case_id, added.party, command.evidence, uow.now)
        await self._apply(uow, decision)

    async def respond(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.RespondToCase = message.data
        case = await store.load_case(uow.session, command.case_id)
        await self._apply(uow, domain.respond(case, command, message.actor, uow.now, self.policy))

    async def answer_counter_offer(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.AnswerCounterOffer = message.data
        case = await store.load_case(uow.session, command.case_id)
        await self._apply(uow, domain.answer_counter_offer(case, command, message.actor, uow.now, self.policy))

    async def escalate(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.EscalateCase = message.data
        case, order = await self._case_and_order(uow, command.case_id)
        await self._apply(uow, domain.escalate(case, command, message.actor, order, uow.now, self.policy))

    async def rule(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.RuleOnCase = message.data
        case, order = await self._case_and_order(uow, command.case_id)
        await self._apply(uow, domain.rule(case, command, message.actor, order, uow.now, self.policy), order)

    async def record_return_shipment(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.RecordReturnShipment = message.data
        case = await store.load_case(uow.session, command.case_id)
        await self._apply(uow, domain.record_return_shipment(case, command, message.actor, uow.now, self.policy))

    async def confirm_return_receipt(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.ConfirmReturnReceipt = message.data
        case = await store.load_case(uow.session, command.case_id)
        await self._apply(uow, domain.confirm_return_receipt(case, command, message.actor, uow.now))

    async def withdraw(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.WithdrawCase = message.data
        case = await store.load_case(uow.session, command.case_id)
        await self._apply(uow, domain.withdraw(case, command, message.actor))

    async def submit_feedback(self, uow: UnitOfWork, message: Envelope) -> None:
        command: disputes.SubmitFeedback = message.data
        case, order = await self._case_and_order(uow, command.case_id)
        await self._apply(uow, domain.submit_feedback(case, command, message.actor, order, uow.now, self.policy))

    async def _case_and_order(self, uow: UnitOfWork, case_id: str) -> tuple[domain.Case, domain.OrderView]:
        case = await store.load_case(uow.session, case_id)
        if case is None:
            raise Rejected("case_not_found", f"no case {case_id}", case_id)
        order = await store.load_order(uow.ws, case.order_id)
        assert order is not None, "a case's order is always known"
        return case, order

    # -- timers -----------------------------------------------------------------------------

    async def merchant_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        await self._apply(uow, domain.merchant_deadline(await store.load_case(uow.session, timer.aggregate_id), uow.now))

    async def counter_offer_lapsed(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        await self._apply(uow, domain.counter_offer_lapsed(await store.load_case(uow.session, timer.aggregate_id), uow.now))

    async def escalation_lapsed(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        await self._apply(uow, domain.escalation_lapsed(await store.load_case(uow.session, timer.aggregate_id), uow.now))

    async def arbitration_overdue(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        case, order = await self._case_and_order(uow, timer.aggregate_id)
        await self._apply(uow, domain.arbitration_overdue(case, order, uow.now, self.policy))

    async def default_ruling(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        case, order = await self._case_and_order(uow, timer.aggregate_id)
        await self._apply(uow, domain.apply_default_ruling(case, order, uow.now, self.policy), order)

    async def return_shipment_lapsed(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        case = await store.load_case(uow.session, timer.aggregate_id)
        await self._apply(uow, domain.return_shipment_lapsed(case, uow.now))

    async def return_receipt_lapsed(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        case = await store.load_case(uow.session, timer.aggregate_id)
        await self._apply(uow, domain.return_receipt_lapsed(case, uow.now))

    def verification_day(self, day: int) -> timers.TimerHandler:
        async def fire(uow: UnitOfWork, timer: DurableTimer) -> None:
            case = await store.load_case(uow.session, timer.aggregate_id)
            await self._apply(uow, domain.verification_day(case, day, uow.now))
        return fire

    # -- escrow's events: the orders cases are about, and refund execution ------------------

    @ORDER_READ
    async def hold_created(self, uow: UnitOfWork, message: Envelope) -> None:
        held: escrow.HoldCreated = message.data
        if await store.load_order(uow.ws, held.order_id) is None:
            await store.save_order(uow.ws, domain.OrderView(
                order_id=held.order_id, buyer_id=held.buyer_id, merchant_id=held.merchant_id, paid=held.amount.amount,
                currency=held.amount.currency), uow.now)
        uow.wake(domain.order_key(held.order_id))  # a case opened before this was read waits for it

    async def merchant_credited(self, uow: UnitOfWork, message: Envelope) -> None:
        """A payment without the guarantee, credited to the merchant: a case may be opened on it too."""
        credited: escrow.MerchantCredited = message.data
        if credited.buyer_id is not None and await store.load_order(uow.ws, credited.order_id) is None:
            await store.save_order(uow.ws, domain.OrderView(
                order_id=credited.order_id, buyer_id=credited.buyer_id, merchant_id=credited.merchant_id,
                paid=credited.gross.amount, currency=credited.gross.currency, guaranteed=False), uow.now)
        uow.wake(domain.order_key(credited.order_id))

    async def direct_order_shipped(self, uow: UnitOfWork, message: Envelope) -> None:
        shipped: escrow.DirectOrderShipped = message.data
        await self._update_order(uow, shipped.order_id, shipped=True, released_at=shipped.deemed_received_at)

    async def direct_payment_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.DirectPaymentRefunded = message.data
        order = await store.load_order(uow.ws, refunded.order_id)
        if order is not None:
            await store.save_order(uow.ws, replace(
                order, refunded_elsewhere=order.refunded_elsewhere + refunded.amount.amount), uow.now)

    async def refund_refused(self, uow: UnitOfWork, message: Envelope) -> None:
        """A cancellation the merchant's balance could not refund becomes a case, agreed at once."""
        refused: escrow.RefundRefused = message.data
        if refused.reason != "merchant_balance_short":
            return
        order = await store.load_order(uow.ws, refused.order_id)
        existing = await store.load_case(uow.session, domain.cancellation_case_id(refused.order_id))
        already_open = await store.open_case_on(uow.session, refused.order_id)
        decision = domain.open_for_cancellation(existing, already_open, order, refused, uow.now)
        if decision is not None:
            await self._apply(uow, decision, order)

    @ORDER_READ
    async def shipment_recorded(self, uow: UnitOfWork, message: Envelope) -> None:
        await self._update_order(uow, message.data.order_id, shipped=True)

    @ORDER_READ
    async def hold_released(self, uow: UnitOfWork, message: Envelope) -> None:
        released: escrow.HoldReleased = message.data
        await self._update_order(uow, released.order_id, released_at=message.occurred_at, release_reason=released.reason)

    async def hold_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.HoldRefunded = message.data
        if refunded.reason == "case_refund":
            return  # counted when escrow reports the case refund executed
        order = await store.load_order(uow.ws, refunded.order_id)
        if order is not None:
            await store.save_order(uow.ws, replace(
                order, refunded_elsewhere=order.refunded_elsewhere + refunded.amount.amount), uow.now)

    async def _update_order(self, uow: UnitOfWork, order_id: str, **changes: object) -> None:
        order = await store.load_order(uow.ws, order_id)
        if order is not None:
            await store.save_order(uow.ws, replace(order, **changes), uow.now)  # type: ignore[arg-type]

    async def case_refund_executed(self, uow: UnitOfWork, message: Envelope) -> None:
        executed: escrow.CaseRefundExecuted = message.data
        order = await store.load_refund_order(uow.session, executed.refund_id)
        if order is None or order.executed:
            return  # not ours, or reported twice
        case = await store.load_case(uow.session, executed.case_id)
        assert case is not None
        year = domain.year_of(uow.now)
        used = await store.compensation_used(uow.session, case.buyer_id, year)
        decision = domain.refund_executed(case, executed.refund_id, executed.from_hold, executed.from_merchant,
                                          executed.shortfall, case.reason.value, used, self.policy)
        granted = decision.case.compensated - case.compensated
        await store.mark_executed(uow.session, executed.refund_id, executed.from_hold, executed.from_merchant,
                                  executed.shortfall, granted)
        if granted:
            await store.use_compensation(uow.session, case.buyer_id, year, used + granted)
        await self._apply(uow, decision)

    # -- the insurer ------------------------------------------------------------------------

    async def claim_decided(self, uow: UnitOfWork, message: Envelope) -> None:
        decided: insurer.ClaimDecided = message.data
        claim, case = await self._claim(uow, decided)
        if claim.decision is not None:
            return
        approved = min(decided.approved.amount, claim.amount)
        await store.update_claim(uow.session, claim.claim_id, decision=decided.decision.value, approved=approved,
                                 decided_at=uow.now)
        event = disputes.ClaimDecisionRecorded(**case.parties(), claim_id=claim.claim_id, decision=decided.decision.value,
                                               claimed=case.money(claim.amount), approved=case.money(approved),
                                               reason=decided.reason)
        await self._apply(uow, domain.CaseDecision(case, [event]))

    async def claim_paid(self, uow: UnitOfWork, message: Envelope) -> None:
        paid: insurer.ClaimPaid = message.data
        claim, case = await self._claim(uow, paid)
        if claim.decision is None:
            raise Rejected("claim_not_decided", f"claim {claim.claim_id} was paid before it was decided")
        if claim.paid is not None:
            return  # paid twice: booked once
        amount = min(paid.amount.amount, claim.approved or 0)
        await store.update_claim(uow.session, claim.claim_id, paid=amount, paid_at=uow.now)
        event = disputes.ClaimPaymentRecorded(**case.parties(), claim_id=claim.claim_id, amount=case.money(amount))
        await self._apply(uow, domain.CaseDecision(case, [event]))

    async def _claim(self, uow: UnitOfWork, callback: insurer.ClaimDecided | insurer.ClaimPaid) -> tuple[object, domain.Case]:
        if not callback.signature_valid(self.settings.insurer_callback_secret):
            raise Undeliverable("bad_signature", f"insurer callback for {callback.claim_id} is not signed by the insurer")
        claim = await store.load_claim(uow.session, callback.claim_id)
        if claim is None:
            raise Undeliverable("unknown_claim", f"no claim {callback.claim_id} was filed")
        case = await store.load_case(uow.session, claim.case_id)
        assert case is not None
        return claim, case

    # -- applying a decision ----------------------------------------------------------------

    async def _apply(self, uow: UnitOfWork, decision: domain.CaseDecision, order: domain.OrderView | None = None) -> None:
        case = decision.case
        await store.save_case(uow.session, case, uow.now)
        await store.record(uow.session, case.case_id, decision.events, uow.now)
        for event in decision.events:
            uow.emit(disputes.EVENTS, case.order_id, event)
            if isinstance(event, disputes.RefundOrdered):
                await store.add_refund_order(uow.session, event.refund_id, case.case_id, event.amount.amount, event.basis, uow.now)
                order = order or await store.load_order(uow.ws, case.order_id)
                assert order is not None
                order = replace(order, committed=order.committed + event.amount.amount)
                await store.save_order(uow.ws, order, uow.now)
        for timer in decision.timers:
            if timer.due is None:
                await timers.cancel(uow, timer.kind, case.case_id)
            else:
                await timers.schedule(uow, timer.kind, case.case_id, timer.due)
        if decision.claim is not None:
            claim = decision.claim
            await store.add_claim(uow.session, claim.claim_id, case.case_id, claim.amount.amount, claim.amount.currency, uow.now)
            uow.emit(insurer.REQUESTS, case.order_id, claim)
