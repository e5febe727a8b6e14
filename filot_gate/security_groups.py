"""Security group rules as an operator reads them (``aws ec2 describe-security-group-rules``): one rule per
port range and peer, with what it opens and to whom, in words."""

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
    #: the peer: a CIDR range, a prefix list or a security group id ("" for a rule that names none)
    peer: str

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
        return f"{what} with {self.peer or 'nobody'} ({self.group_id})"


@dataclass(frozen=True)
class GroupRules:
    """Every rule of a set of groups (the groups an ECS service places its tasks in)."""

    group_ids: tuple[str, ...]
    vpc_ids: tuple[str, ...]
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]


def rules_of(ec2: Any, group_ids: list[str]) -> GroupRules:
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    return GroupRules(tuple(group_ids), tuple(sorted({g["VpcId"] for g in groups})),
                      tuple(r for g in groups for p in g["IpPermissions"] for r in _rules(g["GroupId"], p)),
                      tuple(r for g in groups for p in g["IpPermissionsEgress"] for r in _rules(g["GroupId"], p)))


def group_id(ec2: Any, name: str, vpc_ids: tuple[str, ...]) -> str | None:
    """The id of the group called ``name`` in one of the VPCs, None when there is none."""
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]},
                                                  {"Name": "vpc-id", "Values": list(vpc_ids)}])["SecurityGroups"]
    return found[0]["GroupId"] if found else None


def _rules(group: str, permission: dict[str, Any]) -> list[Rule]:
    """One ``IpPermissions`` entry, split into a rule per peer."""
    peers = ([r["CidrIp"] for r in permission.get("IpRanges", [])]
             + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
             + [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
             + [p["GroupId"] for p in permission.get("UserIdGroupPairs", [])])
    protocol, ports = str(permission.get("IpProtocol")), (permission.get("FromPort"), permission.get("ToPort"))
    return [Rule(group, protocol, *ports, peer) for peer in peers or [""]]
