"""Escrow: holds, release, refunds, the money side of dispute cases, and the double-entry ledger."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from services.escrow.config import EscrowSettings
from services.escrow.handlers import AUTO_CONFIRM, EscrowHandlers
from services.escrow.migrations import SCHEMA
from services.escrow.store import HoldRow, JournalLineRow, backfill_running_balances
from shared.contracts import disputes, escrow, payments, psp
from shared.db import Database
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.service_http import at_most_every
from shared.settings import PlatformSettings

DEFAULT_PORT = 8103
log = logging.getLogger("danbao.escrow")


async def open_holds(db: Database) -> float:
    async with db.transaction() as session:
        return float((await session.exec(
            select(func.count()).select_from(HoldRow).where(col(HoldRow.status).in_(["held", "shipped"])))).one())


async def ledger_imbalance(db: Database) -> float:
    """The trial balance as a number: over every currency, |debits - credits| of the whole journal, in minor
    units. 0 while every entry balances; anything else is a bug to stop for (danbao ledger trial-balance)."""
    async with db.transaction() as session:
        totals = (await session.exec(select(JournalLineRow.currency, func.sum(JournalLineRow.amount))
                                     .group_by(JournalLineRow.currency))).all()
    return float(sum(abs(total or 0) for _, total in totals))


async def backfill_balances(db: Database, platform: PlatformSettings, now: datetime) -> None:
    """At start-up: a journal kept before running balances existed gets them, once."""
    async with db.transaction() as session:
        written = await backfill_running_balances(session, now)
    if written:
        log.info("running balances computed from the journal for %d accounts", written)


def build(settings: EscrowSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    settings = settings or EscrowSettings()
    handlers = EscrowHandlers(settings)
    definition = ServiceDefinition(
        name="escrow",
        default_port=DEFAULT_PORT,
        events=escrow.EVENTS,
        schema=SCHEMA,
        subscriptions=[
            Subscription(escrow.COMMANDS, {
                escrow.RecordShipment.TYPE: handlers.record_shipment,
                escrow.ConfirmReceipt.TYPE: handlers.confirm_receipt,
            }),
            Subscription(payments.EVENTS, {
                payments.PaymentSucceeded.TYPE: handlers.payment_succeeded,
                payments.PaymentCapturedLate.TYPE: handlers.payment_captured_late,
                payments.RefundRequested.TYPE: handlers.refund_requested,
                payments.PayoutRequested.TYPE: handlers.payout_requested,
                payments.PayoutSettled.TYPE: handlers.payout_settled,
                payments.PayoutFailed.TYPE: handlers.payout_failed,
            }, group_suffix="payments-events", ignore_unknown_types=True),
            Subscription(psp.CALLBACKS, {psp.RefundCallback.TYPE: handlers.refund_completed},
                         group_suffix="psp", ignore_unknown_types=True),
            Subscription(disputes.EVENTS, {
                disputes.CaseOpened.TYPE: handlers.case_opened,
                disputes.CaseClosed.TYPE: handlers.case_closed,
                disputes.RefundOrdered.TYPE: handlers.refund_ordered,
                disputes.CompensationGranted.TYPE: handlers.compensation_granted,
                disputes.ClaimDecisionRecorded.TYPE: handlers.claim_decided,
                disputes.ClaimPaymentRecorded.TYPE: handlers.claim_paid,
            }, group_suffix="disputes-events", ignore_unknown_types=True),
        ],
        timers={AUTO_CONFIRM: handlers.auto_confirm_due},
        publishes=[psp.REQUESTS],
        gauges={"danbao_open_holds": open_holds, "danbao_ledger_imbalance": at_most_every(60, ledger_imbalance)},
        seed=backfill_balances,
    )
    return ServiceRuntime(definition, settings, platform)
