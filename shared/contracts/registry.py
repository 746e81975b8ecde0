"""Contracts with the enterprise credit registry (国家企业信用信息公示系统) through its adapter topics."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import MerchantRef, SignedCallback
from shared.envelope import Payload


class RegistryStatus(StrEnum):
    ACTIVE = "active"            # 存续
    REVOKED = "revoked"          # 吊销
    DEREGISTERED = "deregistered"  # 注销
    NOT_FOUND = "not_found"


class LookupCompany(Payload):
    """Ask the registry about a credit code."""

    TYPE: ClassVar[str] = "registry.company.lookup"

    merchant_id: MerchantRef
    credit_code: str = Field(description="Unified social credit code.", examples=["91350100M000100Y43"])


class CompanyFound(SignedCallback):
    """The registry's answer, signed with the shared registry callback secret. Signed over merchant_id,
    credit_code, status, registered_name."""

    TYPE: ClassVar[str] = "registry.company.found"
    SIGNED: ClassVar[tuple[str, ...]] = ("merchant_id", "credit_code", "status", "registered_name")

    merchant_id: MerchantRef
    credit_code: str = Field(description="Unified social credit code.", examples=["91350100M000100Y43"])
    status: RegistryStatus = Field(description="Registration status.", examples=["active"])
    registered_name: str | None = Field(default=None, description="Name on the register.", examples=["杭州小盾牌贸易有限公司"])


REQUESTS = TopicContract(topics.REGISTRY_REQUESTS, "Company look-ups sent to the enterprise credit registry.", [LookupCompany])
RESULTS = TopicContract(topics.REGISTRY_RESULTS, "The registry's answers, signed.", [CompanyFound])
