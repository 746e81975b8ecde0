"""The onboarding service's tables. Personal data is stored encrypted (``*_enc`` columns)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, inspect, text
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.onboarding.domain import Application, Status
from shared.contracts.onboarding import ApplyForMerchant, MerchantType, SettlementAccountKind
from shared.db import Database, upsert_row
from shared.pii import FieldCipher
from shared.pii_store import EncryptedColumns
from shared.timers import as_utc

PII_FIELDS = ("legal_rep_name", "legal_rep_id_number", "settlement_account", "phone", "email")


class ApplicationRow(SQLModel, table=True):
    __tablename__ = "merchant_application"

    merchant_id: str = Field(primary_key=True, max_length=64)
    merchant_type: str = Field(max_length=32)
    legal_name: str = Field(max_length=100)
    credit_code: str = Field(max_length=18, index=True)
    industry: str = Field(max_length=32)
    has_licence: bool
    email_masked: str = Field(max_length=200)
    legal_rep_name_enc: str
    legal_rep_id_number_enc: str
    settlement_account_enc: str
    phone_enc: str
    email_enc: str
    documents: str = Field(description="JSON list of document references")
    status: str = Field(max_length=16, index=True)
    verified: bool = False
    risk_score: int = 0
    activation_code_hash: str | None = Field(default=None, max_length=64)
    activation_expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    lookups: int = 0
    review_due_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    settlement_account_kind: str | None = Field(default=None, max_length=16, description="personal_card or corporate")
    settlement_account_ref: str | None = Field(default=None, max_length=64, description="given at activation")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    def to_domain(self) -> Application:
        return Application(
            merchant_id=self.merchant_id, merchant_type=MerchantType(self.merchant_type), legal_name=self.legal_name,
            credit_code=self.credit_code, industry=self.industry, has_licence=self.has_licence,
            email_masked=self.email_masked, status=Status(self.status), verified=self.verified, risk_score=self.risk_score,
            activation_code_hash=self.activation_code_hash,
            activation_expires_at=as_utc(self.activation_expires_at) if self.activation_expires_at else None,
            lookups=self.lookups, review_due_at=as_utc(self.review_due_at) if self.review_due_at else None,
            # Rows from before the kind was recorded were checked as bank cards.
            settlement_account_kind=SettlementAccountKind(self.settlement_account_kind or SettlementAccountKind.PERSONAL_CARD),
            settlement_account_ref=self.settlement_account_ref,
        )


async def load(session: AsyncSession, merchant_id: str) -> tuple[ApplicationRow | None, Application | None]:
    row = (await session.exec(select(ApplicationRow).where(ApplicationRow.merchant_id == merchant_id).with_for_update())).first()
    return row, row.to_domain() if row else None


async def credit_code_taken(session: AsyncSession, credit_code: str, merchant_id: str) -> bool:
    found = await session.exec(select(ApplicationRow.merchant_id).where(
        ApplicationRow.credit_code == credit_code, ApplicationRow.merchant_id != merchant_id,
        ApplicationRow.status.in_([Status.ACTIVE.value, Status.SUSPENDED.value])))  # type: ignore[attr-defined]
    return found.first() is not None


def save(session: AsyncSession, row: ApplicationRow | None, application: Application, now: datetime,
         submitted: ApplyForMerchant | None = None, cipher: FieldCipher | None = None) -> None:
    values: dict[str, object] = dict(
        merchant_id=application.merchant_id, merchant_type=application.merchant_type.value, legal_name=application.legal_name,
        credit_code=application.credit_code, industry=application.industry, has_licence=application.has_licence,
        email_masked=application.email_masked, status=application.status.value, verified=application.verified,
        risk_score=application.risk_score, activation_code_hash=application.activation_code_hash,
        activation_expires_at=application.activation_expires_at, lookups=application.lookups,
        review_due_at=application.review_due_at, settlement_account_kind=application.settlement_account_kind.value,
        settlement_account_ref=application.settlement_account_ref, updated_at=now,
    )
    if submitted is not None:
        assert cipher is not None
        values["documents"] = "[" + ",".join(d.model_dump_json() for d in submitted.documents) + "]"
        for name in PII_FIELDS:
            values[f"{name}_enc"] = cipher.encrypt(getattr(submitted, name), pii_context(application.merchant_id, name))
    upsert_row(session, row, ApplicationRow, values, now)


def settlement_account(row: ApplicationRow, cipher: FieldCipher) -> str:
    """The applicant's settlement account number, decrypted."""
    return cipher.decrypt(row.settlement_account_enc, pii_context(row.merchant_id, "settlement_account"))


def pii_context(merchant_id: str, field: str) -> str:
    """What a merchant's personal data is bound to: moved to another merchant or field, it will not decrypt."""
    return f"merchant:{merchant_id}:{field}"


async def encrypt_legal_rep_names(db: Database, cipher: FieldCipher) -> None:
    """A database from before legal representatives' names were encrypted: encrypt each into
    ``legal_rep_name_enc`` and drop the plaintext column (once, at start-up)."""
    async with db.transaction() as session:
        columns = await session.run_sync(lambda sync: {c["name"] for c in inspect(sync.connection()).get_columns("merchant_application")})
        if "legal_rep_name" not in columns:
            return
        if "legal_rep_name_enc" not in columns:
            await session.execute(text("ALTER TABLE merchant_application ADD COLUMN legal_rep_name_enc TEXT"))
        rows = (await session.execute(text("SELECT merchant_id, legal_rep_name FROM merchant_application"))).all()
        for merchant_id, name in rows:
            await session.execute(text("UPDATE merchant_application SET legal_rep_name_enc = :enc WHERE merchant_id = :id"),
                                  {"enc": cipher.encrypt(name, pii_context(merchant_id, "legal_rep_name")), "id": merchant_id})
        await session.execute(text("ALTER TABLE merchant_application DROP COLUMN legal_rep_name"))


TABLES: list[type[SQLModel]] = [ApplicationRow]

ENCRYPTED_COLUMNS = [EncryptedColumns(
    ApplicationRow, tuple(f"{name}_enc" for name in PII_FIELDS),
    context=lambda row, column: pii_context(row["merchant_id"], column.removesuffix("_enc")),
)]
