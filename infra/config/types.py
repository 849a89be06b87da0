"""Value types of stack keys: each validates itself and carries the label the docs show."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BeforeValidator, Field

from service.engine_options import engine_option_problems

Engine = Literal["simulated", "transformers", "tensorrt-llm"]


@dataclass(frozen=True)
class TypeLabel:
    """How the config reference names a value type (`Annotated` metadata; pydantic ignores it)."""

    text: str


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
    **{s + "i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")},
}


def quantity_value(text: str) -> Decimal:
    """A Kubernetes quantity (500m, 4, 32Gi) as a number of base units."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError("must be a Kubernetes quantity such as 500m, 4 or 32Gi")
    return Decimal(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def _check_quantity(text: str) -> str:
    quantity_value(text)
    return text


def _check_dns_label(text: str) -> str:
    if not _DNS_LABEL.match(text):
        raise ValueError("must be a DNS-1123 label (lowercase letters, digits and '-')")
    return text


def _check_cidr(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise ValueError(f"must be a CIDR block such as 0.0.0.0/0 ({error})") from None
    return text


def _check_tensor_parallel(size: int) -> int:
    # NCCL rings and the attention head split want a power of two within one node.
    if size not in (1, 2, 4, 8):
        raise ValueError("must be one of 1, 2, 4 or 8")
    return size


def _check_parallel_degree(size: int) -> int:
    # Across nodes too, TensorRT-LLM's tensor-parallel groups are powers of two (TP16 over
    # two 8-GPU nodes is upstream's multi-node example).
    if size < 1 or size > 64 or size & (size - 1):
        raise ValueError("must be a power of two from 1 to 64")
    return size


def _number_as_quantity(value: object) -> object:
    # `pulumi config set --path quota.cpu 96` stores the number 96, and Kubernetes
    # accepts a bare number as a quantity: read it as the string "96".
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_number_as_quantity),
    AfterValidator(_check_quantity),
    TypeLabel("quantity"),
]
TensorParallelSize = Annotated[
    int, AfterValidator(_check_tensor_parallel), TypeLabel("1, 2, 4 or 8")
]
ParallelDegree = Annotated[int, AfterValidator(_check_parallel_degree), TypeLabel("1, 2, 4 ... 64")]
DnsLabel = Annotated[
    str, Field(max_length=63), AfterValidator(_check_dns_label), TypeLabel("DNS label")
]
# Helm keeps 10 characters of the 63 for its own suffixes (release names <= 53).
ReleaseName = Annotated[
    str, Field(max_length=53), AfterValidator(_check_dns_label), TypeLabel("DNS label")
]
Cidr = Annotated[str, AfterValidator(_check_cidr), TypeLabel("CIDR")]


def _check_engine_options(options: dict[str, Any]) -> dict[str, Any]:
    problems = engine_option_problems(options)
    if problems:
        raise ValueError("; ".join(problems))
    return options


EngineOptions = Annotated[
    dict[str, Any], AfterValidator(_check_engine_options), TypeLabel("map of LLM API options")
]


@dataclass(frozen=True)
class SecretValue:
    """A secret config value: a secret Output under Pulumi, a placeholder when read offline."""

    value: pulumi.Output[str] | str

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"
