"""The four seed dispute cases end to end through the real broker and service processes, with the
test clock moved forward, as `danbao demo disputes` replays them: each ends with the case closed,
the ledger balanced and the expected balances."""

from __future__ import annotations

import asyncio

import pytest

from ops.demo import DEMO_MERCHANTS, Outcome, run
from ops.platform import LocalPlatform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def outcomes(platform: LocalPlatform) -> dict[str, Outcome]:
    return {o.name: o for o in asyncio.run(run(platform.broker.bootstrap, tag="IT"))}


def test_lost_parcel_is_compensated_first_and_claimed_from_the_insurer(outcomes: dict[str, Outcome]) -> None:
    lost = outcomes["lost-parcel"]
    merchant = DEMO_MERCHANTS["lost-parcel"]
    assert lost.facts == {"proposal": "R1-not-delivered", "compensated": 12900, "refunded": 12900, "outcome": "resolved"}
    assert lost.balances == {"buyer_refunds_payable:B-LOST-IT": 0,  # the provider paid the buyer back
                             f"merchant_available:{merchant}": 0,  # everything was withdrawn before the case
                             f"merchant_recovery_receivable:{merchant}": 0}  # the insurer approved the claim in full
    steps = [t for _, t, _ in lost.timeline]
    assert steps.index("disputes.negotiation.failed") < steps.index("disputes.case.escalated") < steps.index("disputes.case.ruled")
    assert {"escrow.case_refund.executed", "disputes.compensation.granted", "escrow.compensation.paid",
            "disputes.claim.decided", "disputes.claim.paid", "escrow.refund.paid_out"} <= set(steps)
    assert "disputes.case.closed" in steps[-2:]


def test_holiday_return_is_compensated_and_the_merchant_repays_from_its_next_sale(outcomes: dict[str, Outcome]) -> None:
    coat = outcomes["holiday-return"]
    merchant = DEMO_MERCHANTS["holiday-return"]
    assert coat.facts["compensated"] == 59900 and coat.facts["insurer_approved"] == 29950
    assert coat.facts["outcome"] == "resolved" and coat.facts["merchant_owed_before"] == 0
    next_sale_net = coat.facts["recovered_from_next_sale"]
    assert 0 < next_sale_net < 12900  # the scarf's net, all of it kept to repay
    assert coat.balances == {"buyer_refunds_payable:B-COAT-IT": 0, f"merchant_available:{merchant}": 0,
                             f"merchant_recovery_receivable:{merchant}": 29950 - next_sale_net}
    assert any(t == "disputes.negotiation.agreed" and "how=merchant_silent" in s for _, t, s in coat.timeline)


def test_price_difference_refunds_38_yuan_and_the_rest_is_released_after_the_case(outcomes: dict[str, Outcome]) -> None:
    diff = outcomes["price-difference"]
    merchant = DEMO_MERCHANTS["price-difference"]
    assert diff.facts == {"refunded": 3800, "held_after_case": 22100, "released": 22100, "outcome": "resolved"}
    assert diff.balances["buyer_refunds_payable:B-DIFF-IT"] == 0
    assert 0 < -diff.balances[f"merchant_available:{merchant}"] < 22100  # the rest, less the fee
    rounds = [s for _, t, s in diff.timeline if t == "disputes.case.merchant_responded"]
    assert len(rounds) == 2 and "counter_offer" in rounds[0] and "accept" in rounds[1]


def test_phone_not_as_described_is_refunded_in_full_from_the_hold(outcomes: dict[str, Outcome]) -> None:
    phone = outcomes["phone-not-as-described"]
    assert phone.facts == {"refunded": 399900, "outcome": "resolved"}
    assert phone.balances == {"buyer_refunds_payable:B-PHONE-IT": 0, f"merchant_available:{DEMO_MERCHANTS['phone-not-as-described']}": 0}
    steps = [t for _, t, _ in phone.timeline]
    assert steps.count("disputes.verification.refund_checked") == 1 and "escrow.hold.unfrozen" in steps


def test_the_ledger_balances_after_every_case(outcomes: dict[str, Outcome], platform: LocalPlatform) -> None:
    from ops.demo import Watcher

    async def total() -> int:
        watcher = Watcher(platform.broker.bootstrap)
        await watcher.start()
        try:
            await watcher.wait("disputes.case.closed", case_id="C-PHONE-IT")
            return watcher.total()
        finally:
            await watcher.stop()

    assert asyncio.run(total()) == 0
