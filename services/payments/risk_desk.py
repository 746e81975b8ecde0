"""Risk controls in the payments service's handlers: gather a payment's, payout's or cancellation's figures,
apply the rules (``risk``), record what the rules count, and flag what they hold or refuse."""

from __future__ import annotations

from datetime import timedelta

from services.payments import risk_store as store
from services.payments.risk import RiskRules, PaymentFigures, Verdict
from services.payments.store import MerchantView
from shared.contracts import payments
from shared.contracts.risk import RiskFlagged, RiskOutcome, RiskSubject
from shared.timers import as_utc
from shared.unit_of_work import UnitOfWork

LONGEST_WINDOW = timedelta(days=90)


class RiskDesk:
    def __init__(self, rules: RiskRules, raise_of: dict[str, int]) -> None:
        self.rules = rules
        self.raise_of = raise_of

    def raise_by(self, merchant_id: str) -> int:
        return self.raise_of.get(merchant_id, 1)

    async def _since(self, uow: UnitOfWork, key: str, rule: str) -> tuple[int, int]:
        return await store.tally(uow.ws, key, uow.now - self.rules.window(rule))

    async def payment(self, uow: UnitOfWork, buyer_id: str, merchant_id: str, device_id: str | None, amount: int) -> Verdict | None:
        """The verdict on a payment about to be charged; the attempt is counted whatever it is."""
        merchant = await uow.ws.get(MerchantView, merchant_id)
        active_since = getattr(merchant, "active_since", None)
        paid_count, paid_total = await self._since(uow, f"paid:merchant:{merchant_id}", "R-AMOUNT-UNUSUAL")
        figures = PaymentFigures(
            buyer_id=buyer_id, merchant_id=merchant_id, device_id=device_id, amount=amount,
            buyer_failures=(await self._since(uow, f"fail:buyer:{buyer_id}", "R-FAILED-ATTEMPTS"))[0],
            buyer_payments=(await self._since(uow, f"pay:buyer:{buyer_id}", "R-VELOCITY-BUYER"))[0],
            device_payments=(await self._since(uow, f"pay:device:{device_id}", "R-VELOCITY-DEVICE"))[0] if device_id else 0,
            merchant_payments=(await self._since(uow, f"pay:merchant:{merchant_id}", "R-VELOCITY-MERCHANT"))[0],
            merchant_paid_count=paid_count, merchant_paid_total=paid_total,
            merchant_active_since=as_utc(active_since) if active_since else None,
            merchant_paid_recently=(await self._since(uow, f"paid:merchant:{merchant_id}", "R-NEW-MERCHANT-VOLUME"))[1],
            raise_by=self.raise_by(merchant_id))
        await store.observe(uow.ws, uow.now, *store.pay_keys(buyer_id, merchant_id, device_id))
        return self.rules.payment(figures, uow.now)

    async def payout(self, uow: UnitOfWork, merchant_id: str, amount: int) -> Verdict | None:
        inflow = (await self._since(uow, f"inflow:merchant:{merchant_id}", "R-PAYOUT-AFTER-INFLOW"))[1]
        return self.rules.payout(merchant_id, amount, inflow)

    async def merchant_cancelled(self, uow: UnitOfWork, merchant_id: str) -> Verdict | None:
        """The merchant cancelled a paid order: counted, then judged."""
        await store.observe(uow.ws, uow.now, f"cancel:merchant:{merchant_id}")
        cancelled = (await self._since(uow, f"cancel:merchant:{merchant_id}", "R-CANCEL-MERCHANT"))[0]
        return self.rules.cancellation(merchant_id, cancelled, self.raise_by(merchant_id))

    async def paid(self, uow: UnitOfWork, merchant_id: str, amount: int) -> None:
        await store.observe(uow.ws, uow.now, f"paid:merchant:{merchant_id}", amount=amount)

    async def failed(self, uow: UnitOfWork, buyer_id: str) -> None:
        await store.observe(uow.ws, uow.now, f"fail:buyer:{buyer_id}")

    async def inflow(self, uow: UnitOfWork, merchant_id: str, net: int) -> None:
        """Money reached the merchant's available balance (a release, a direct payment)."""
        if net > 0:
            await store.observe(uow.ws, uow.now, f"inflow:merchant:{merchant_id}", amount=net)

    async def flag(self, uow: UnitOfWork, verdict: Verdict, subject: RiskSubject, subject_id: str, merchant_id: str, *,
                   buyer_id: str | None = None, order_id: str | None = None, payout_id: str | None = None,
                   attempt: int = 0) -> RiskFlagged:
        """Record the flag (a review to decide, or a block) and publish it."""
        review_id = f"RR-{subject_id}" + (f"-{attempt}" if attempt else "") + ("-cancel" if subject is RiskSubject.CANCELLATION else "")
        flag = RiskFlagged(review_id=review_id, subject=subject, subject_id=subject_id, order_id=order_id, payout_id=payout_id,
                           merchant_id=merchant_id, buyer_id=buyer_id, rule=verdict.rule, outcome=verdict.outcome,
                           observed=verdict.observed, threshold=verdict.threshold, window_minutes=verdict.window_minutes,
                           detail=verdict.detail)
        await store.record_flag(uow.ws, flag, uow.now)
        uow.emit(payments.EVENTS, payout_id or order_id or subject_id, flag)
        return flag


def blocks(verdict: Verdict | None) -> bool:
    return verdict is not None and verdict.outcome is RiskOutcome.BLOCK
