"""Security group rules as an operator reads them (``aws ec2 describe-security-groups``): one rule per
port range and source, with what it opens and to whom, in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    group_id: str
    #: "tcp", "udp", "icmp" or "-1" (every protocol)
    protocol: str
    from_port: int | None
    to_port: int | None
    #: the peers: CIDR ranges, prefix lists or security group ids
    peers: tuple[str, ...]
    #: whether every peer is a security group (no address range)
    from_groups_only: bool

    def only_port(self, port: int) -> bool:
        """The rule opens exactly tcp ``port``."""
        return self.protocol == "tcp" and self.from_port == port and self.to_port == port

    def __str__(self) -> str:
        if self.protocol == "-1":
            what = "all traffic"
        elif self.from_port == self.to_port:
            what = f"{self.protocol} {self.from_port}"
        else:
            what = f"{self.protocol} {self.from_port}-{self.to_port}"
        return f"{what} with {', '.join(self.peers) or 'nobody'} ({self.group_id})"


def rules_of(ec2: Any, group_ids: list[str]) -> tuple[list[Rule], list[Rule]]:
    """(ingress, egress) rules of the groups."""
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    return ([_rule(g["GroupId"], p) for g in groups for p in g["IpPermissions"]],
            [_rule(g["GroupId"], p) for g in groups for p in g["IpPermissionsEgress"]])


def _rule(group_id: str, permission: dict[str, Any]) -> Rule:
    ranges = [r["CidrIp"] for r in permission.get("IpRanges", [])] + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
    prefixes = [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
    groups = [p["GroupId"] for p in permission.get("UserIdGroupPairs", [])]
    return Rule(group_id, str(permission.get("IpProtocol")), permission.get("FromPort"), permission.get("ToPort"),
                tuple(ranges + prefixes + groups), bool(groups) and not ranges and not prefixes)
