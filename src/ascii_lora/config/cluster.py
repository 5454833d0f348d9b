"""``[cluster]``: several machines training one LoRA under accelerate (torch.distributed, DDP).

The names are accelerate's own (``accelerate config`` writes the same keys), so a user who knows
accelerate reads the table without a glossary and other tools can rely on them. A machine's rank
is deliberately absent: the file is shared by every machine, the rank comes at launch from
``--machine-rank``, ``MACHINE_RANK`` or SLURM's node id (train/cluster.py).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A host name (RFC 1123 labels) or an IPv4/IPv6 address: what torch.distributed can dial. Anything
# else (a space, a scheme, a leading '-') would reach accelerate's argv as something other than an address.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")


class ClusterConfig(BaseModel):
    """``[cluster]``: how many machines, and where the head (machine rank 0) listens."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)

    num_machines: int = Field(
        1, ge=1, le=1024, description="Machines taking part; each runs [hardware] num_gpus processes."
    )
    main_process_ip: str | None = Field(
        None,
        description="Address of the head machine (rank 0) that every machine dials; required when num_machines > 1.",
    )
    main_process_port: int = Field(
        29500, ge=1, le=65535, description="Port the head listens on (torch.distributed's default)."
    )
    rdzv_backend: Literal["static", "c10d"] = Field(
        "static",
        description="Rendezvous: static (fixed ranks, the head's address) or c10d (torch's elastic store).",
    )
    same_network: bool = Field(
        True, description="All machines on one local network (accelerate's same_network)."
    )

    @field_validator("main_process_ip")
    @classmethod
    def _an_address(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if ":" in v and _IPV6.match(v):
            return v
        if not _HOST.match(v):
            raise ValueError(
                f'main_process_ip {v!r} is not a host name or IP address (e.g. "10.0.0.1" or "node001")'
            )
        return v

    @model_validator(mode="after")
    def _head_known(self) -> ClusterConfig:
        if self.num_machines > 1 and self.main_process_ip is None:
            raise ValueError(
                f"num_machines = {self.num_machines} needs main_process_ip: the address of the machine with rank 0, "
                "which every other machine dials (under SLURM, train.sbatch replaces it with the allocation's first node)"
            )
        return self

    @property
    def multi_machine(self) -> bool:
        return self.num_machines > 1
