"""Disputes: refund cases, negotiation, arbitration, priority compensation, insurer claims and the
three-day verification."""

from __future__ import annotations

from services.disputes import domain, store
from services.disputes.config import DisputesSettings
from services.disputes.handlers import DisputesHandlers
from shared.contracts import disputes, escrow, insurer
from shared.db import Database
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8104


async def open_cases(db: Database) -> float:
    async with db.transaction() as session:
        return float(await store.open_cases(session))


async def overdue_cases(db: Database) -> float:
    async with db.transaction() as session:
        return float(await store.overdue_cases(session))


def build(settings: DisputesSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    settings = settings or DisputesSettings()
    handlers = DisputesHandlers(settings)
    definition = ServiceDefinition(
        name="disputes",
        default_port=DEFAULT_PORT,
        events=disputes.EVENTS,
        tables=store.TABLES,
        subscriptions=[
            Subscription(disputes.COMMANDS, {
                disputes.OpenCase.TYPE: handlers.open_case,
                disputes.AddEvidence.TYPE: handlers.add_evidence,
                disputes.RespondToCase.TYPE: handlers.respond,
                disputes.AnswerCounterOffer.TYPE: handlers.answer_counter_offer,
                disputes.EscalateCase.TYPE: handlers.escalate,
                disputes.RuleOnCase.TYPE: handlers.rule,
                disputes.RecordReturnShipment.TYPE: handlers.record_return_shipment,
                disputes.ConfirmReturnReceipt.TYPE: handlers.confirm_return_receipt,
                disputes.WithdrawCase.TYPE: handlers.withdraw,
                disputes.SubmitFeedback.TYPE: handlers.submit_feedback,
            }),
            Subscription(escrow.EVENTS, {
                escrow.HoldCreated.TYPE: handlers.hold_created,
                escrow.ShipmentRecorded.TYPE: handlers.shipment_recorded,
                escrow.MerchantCredited.TYPE: handlers.merchant_credited,
                escrow.DirectOrderShipped.TYPE: handlers.direct_order_shipped,
                escrow.DirectPaymentRefunded.TYPE: handlers.direct_payment_refunded,
                escrow.RefundRefused.TYPE: handlers.refund_refused,
                escrow.HoldReleased.TYPE: handlers.hold_released,
                escrow.HoldRefunded.TYPE: handlers.hold_refunded,
                escrow.CaseRefundExecuted.TYPE: handlers.case_refund_executed,
            }, group_suffix="escrow-events", ignore_unknown_types=True),
            Subscription(insurer.CALLBACKS, {
                insurer.ClaimDecided.TYPE: handlers.claim_decided,
                insurer.ClaimPaid.TYPE: handlers.claim_paid,
            }, group_suffix="insurer"),
        ],
        timers={
            domain.MERCHANT_DEADLINE: handlers.merchant_deadline,
            domain.COUNTER_OFFER_DEADLINE: handlers.counter_offer_lapsed,
            domain.ESCALATION_WINDOW: handlers.escalation_lapsed,
            domain.ARBITRATION_DEADLINE: handlers.arbitration_overdue,
            domain.DEFAULT_RULING: handlers.default_ruling,
            domain.RETURN_SHIPMENT_DEADLINE: handlers.return_shipment_lapsed,
            domain.RETURN_RECEIPT_DEADLINE: handlers.return_receipt_lapsed,
            **{kind: handlers.verification_day(day) for day, kind in enumerate(domain.VERIFY_DAYS, start=1)},
        },
        publishes=[insurer.REQUESTS],
        gauges={"danbao_open_cases": open_cases, "danbao_cases_arbitration_overdue": overdue_cases},
    )
    return ServiceRuntime(definition, settings, platform)
