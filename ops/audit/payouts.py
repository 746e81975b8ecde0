"""The payouts check.

payouts
    Each ``bank.transfer.requested`` (one per payout) goes to the settlement account onboarding verified:
    its ``account_ref`` is the ``settlement_account_ref`` an ``onboarding.merchant.activated`` of that merchant
    announced (in dev and test mode also ``SA-DEV-<merchant>``, the account payments seeds for its seeded
    merchants; a breach when the audit runs in production mode). It is for a ``payments.payout.scheduled``
    (one per payout) of the same merchant, amount and account. Each scheduled payout's ``transfer_at`` falls
    on a business day, China time, by the audit's calendar (the holidays package and
    ``DANBAO_CALENDAR_OVERRIDES_FILE``, read as the services read them: give the audit the same file), and its
    ``business_days`` is 1 to 3; a date in a year the calendar has no data for cannot be vouched for: a breach.

Not decided here: that no transfer left while its merchant was suspended (it hangs on the order of events
across topics); payments checks that itself when the transfer is due.
"""

from __future__ import annotations

from collections import defaultdict

from ops.audit.core import CheckResult, Stream
from shared.business_days import CHINA, YearData, default_calendar
from shared.contracts import bank, onboarding
from shared.contracts import payments as p
from shared.contracts.settlement import development_account_ref
from shared.settings import Mode, PlatformSettings


def development_accounts_allowed() -> bool:
    return PlatformSettings().mode is not Mode.PRODUCTION


def check(s: Stream, r: CheckResult) -> None:
    verified: defaultdict[str, set[str]] = defaultdict(set)
    for activated in s.all(onboarding.MerchantActivated):
        if activated.settlement_account_ref:
            verified[activated.merchant_id].add(activated.settlement_account_ref)
    scheduled = s.once(r, p.PayoutScheduled, "payout_id")
    development = development_accounts_allowed()
    for payout_id, x in s.once(r, bank.TransferRequested, "payout_id").items():
        r.checked += 1
        allowed = verified[x.merchant_id] | ({development_account_ref(x.merchant_id)} if development else set())
        r.expect(x.account_ref in allowed, f"{payout_id}: transfer to {x.account_ref}, not an account onboarding verified "
                                           f"for {x.merchant_id} ({', '.join(sorted(verified[x.merchant_id])) or 'none announced'})")
        plan = scheduled.get(payout_id)
        r.expect(plan is not None and (plan.merchant_id, plan.amount) == (x.merchant_id, x.amount)
                 and plan.account_ref in (None, x.account_ref),
                 f"{payout_id}: transfer of {x.amount.amount} to {x.account_ref} for {x.merchant_id} without a payout "
                 "scheduled for that merchant, amount and account")
    calendar = default_calendar()
    for payout_id, x in scheduled.items():
        r.checked += 1
        day = x.transfer_at.astimezone(CHINA).date()
        if calendar.year_data(day.year) is YearData.NONE:
            r.breaches.append(f"{payout_id}: scheduled on {day}, in {day.year}, which the audit's calendar has no holiday "
                              "data for (DANBAO_CALENDAR_OVERRIDES_FILE)")
            continue
        r.expect(calendar.is_business_day(day), f"{payout_id}: scheduled on {day}, not a business day")
        r.expect(x.business_days is None or 1 <= x.business_days <= 3, f"{payout_id}: T+{x.business_days}, not T+1 to T+3")
