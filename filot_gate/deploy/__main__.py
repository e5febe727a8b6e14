"""``python -m filot_gate.deploy``: deploy, roll back, re-queue stuck OCR jobs (seed 000 sections 2, 3, 8).

Exit status: 0 done, 1 the deploy or rollback did not reach its goal, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from filot_contract.aws_names import DEFAULT_REGION, SERVICES
from filot_gate.deploy import (
    DeployError,
    ServiceRecord,
    deploy_service,
    execute,
    expected_after,
    load_record,
    new_run_id,
    plan_rollback,
    record_service,
    requeue_stuck_jobs,
    resolve_params,
    service_names,
    wait_for_stable,
)
from filot_gate.manifests import FEATURE_FILES, ManifestError

DEFAULT_RECORD = "deploy-record.json"


class ConfigError(Exception):
    """Bad usage or configuration: exit status 2."""


def say(line: str) -> None:
    print(line, flush=True)


def build_parser() -> argparse.ArgumentParser:
    aws = argparse.ArgumentParser(add_help=False)
    group = aws.add_argument_group("target")
    group.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
                       help="AWS region (default: $AWS_REGION, else %(default)s)")
    group.add_argument("--endpoint-url", default=None,
                       help="AWS endpoint (default: boto3's own, which honours $AWS_ENDPOINT_URL; the sandbox sets it)")
    group.add_argument("--deadline", type=float, default=600.0, help="seconds to wait for the service to be stable")

    parser = argparse.ArgumentParser(prog="python -m filot_gate.deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    deploy = commands.add_parser("deploy", parents=[aws], help="register the manifest's task definition and update the service")
    deploy.add_argument("--service", required=True, choices=sorted(SERVICES))
    deploy.add_argument("--image-tag", choices=("current", "previous"), default="current",
                        help="which image of image-versions.json to deploy (default: %(default)s)")
    deploy.add_argument("--record", type=Path, default=Path(DEFAULT_RECORD), help="deploy record to write (default: %(default)s)")
    deploy.add_argument("--run-id", default=os.environ.get("FILOT_DEPLOY_RUN_ID"),
                        help="deploy run id; deploys with the same id merge into one record (default: $FILOT_DEPLOY_RUN_ID, else new)")
    deploy.add_argument("--no-wait", action="store_true", help="do not wait for the service to be stable")
    deploy.add_argument("--with", dest="features", action="append", choices=sorted(FEATURE_FILES), default=[],
                        help="an optional integration the deployment uses (repeatable): adds its settings from"
                             " infra/ecs/features/<name>.json")

    rollback = commands.add_parser("rollback", parents=[aws], help="point a service back at an earlier revision, or scale it to zero")
    rollback.add_argument("--service", required=True, choices=sorted(SERVICES))
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to-arn", help="task definition ARN to roll back to")
    target.add_argument("--record", type=Path, help="deploy record whose previous revision to roll back to")
    target.add_argument("--scale-to-zero", action="store_true", help="set desiredCount 0 instead (the GPU worker's variant)")
    rollback.add_argument("--plan", action="store_true", help="print the AWS calls, change nothing")

    requeue = commands.add_parser("requeue-stuck-jobs", help="move OCR jobs stuck in the processing list back to the queue")
    requeue.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    requeue.add_argument("--ca-file", help="CA bundle for rediss:// (default: the system's)")
    requeue.add_argument("--older-than", type=float, default=None,
                         help="also re-queue jobs claimed by a live worker more than this many seconds ago")
    requeue.add_argument("--dry-run", action="store_true", help="report what would move, move nothing")
    return parser


def aws_clients(args: argparse.Namespace, *names: str) -> list[Any]:
    import boto3

    from filot_gate.deploy.calls import aws_client_config

    session = boto3.session.Session(region_name=args.region)
    return [session.client(name, endpoint_url=args.endpoint_url, config=aws_client_config()) for name in names]


def cmd_deploy(args: argparse.Namespace) -> int:
    if args.record.exists():
        load_record(args.record)  # a record it could not add to is refused before the service changes
    ecs, ecr, sts, secretsmanager = aws_clients(args, "ecs", "ecr", "sts", "secretsmanager")
    params = resolve_params(sts=sts, ecr=ecr, secretsmanager=secretsmanager, region=args.region, choice=args.image_tag,
                            features=frozenset(args.features))
    record = deploy_service(ecs, args.service, params)
    run_id = args.run_id or new_run_id()
    written, replaced = record_service(args.record, run_id, args.region, args.service, record)
    if replaced:
        say(f"replaced the deploy record of run {replaced} in {args.record}")
    say(f"deployed {args.service}: {record.task_definition_arn} (image {record.image_digest}); "
        f"live before: {record.previous_task_definition_arn}; record {args.record} (run {written.run_id})")
    if not args.no_wait:
        wait_for_stable(ecs, record.cluster, record.service, task_definition=record.task_definition_arn,
                        deadline_s=args.deadline, progress=say)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    (ecs,) = aws_clients(args, "ecs")
    record = rollback_record(ecs, args)
    strategy = "scale-to-zero" if args.scale_to_zero else "previous-revision"
    calls = plan_rollback(ecs, record, strategy)
    if not calls:
        say(f"{args.service}: nothing to roll back (already on the target state)")
        return 0
    for call in calls:
        say(("plan: " if args.plan else "run: ") + call.cli())
    if args.plan:
        return 0
    execute(ecs, calls)
    wait_for_stable(ecs, record.cluster, record.service, deadline_s=args.deadline, progress=say, **expected_after(calls))
    return 0


def rollback_record(ecs: Any, args: argparse.Namespace) -> ServiceRecord:
    """The service record to undo: from the deploy record, or the live state with --to-arn as target."""
    if args.record:
        deploy_record = load_record(args.record)
        if args.service not in deploy_record.services:
            raise DeployError(f"deploy record {args.record} (run {deploy_record.run_id}) has no entry for {args.service}")
        return deploy_record.services[args.service]
    from filot_gate.deploy.state import describe_service

    cluster, service, family, _ = service_names(args.service)
    live = describe_service(ecs, cluster, service)
    return ServiceRecord(cluster, service, family, live["taskDefinition"], "", args.to_arn)


def cmd_requeue(args: argparse.Namespace) -> int:
    if not args.redis_url:
        raise ConfigError("requeue-stuck-jobs needs --redis-url or $REDIS_URL")
    import redis

    kwargs: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}
    if args.ca_file:
        kwargs["ssl_ca_certs"] = args.ca_file
    if os.environ.get("REDIS_PASSWORD"):
        kwargs.setdefault("password", os.environ["REDIS_PASSWORD"])
    client = redis.Redis.from_url(args.redis_url, **kwargs)
    report = requeue_stuck_jobs(client, dry_run=args.dry_run, older_than_s=args.older_than)
    for job in report.stuck:
        say(f"stuck: job {job.job_id} document {job.document_id}: {job.reason}")
    for raw in report.skipped:
        say(f"left in place (not a job message): {raw!r}")
    verb = "would re-queue" if args.dry_run else "re-queued"
    count = len(report.stuck) if args.dry_run else len(report.moved)
    say(f"{report.examined} jobs in processing, {len(report.stuck)} stuck, {verb} {count}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"deploy": cmd_deploy, "rollback": cmd_rollback, "requeue-stuck-jobs": cmd_requeue}
    from botocore.exceptions import BotoCoreError, ClientError
    from redis.exceptions import RedisError

    try:
        return handlers[args.command](args)
    except (ConfigError, ManifestError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DeployError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"{args.command} failed: AWS {exc.operation_name}: {exc.response['Error'].get('Message', exc)}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"{args.command} failed: AWS: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"{args.command} failed: Redis: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
