"""``python -m sandbox up|down|status|deploy|fault|heal``: the local FiLot deployment, started and
stopped as one, and named faults injected into it and healed."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from filot_contract import aws_names
from sandbox import datastores
from sandbox.components import NotRunning, buli2_process, components, controller_process
from sandbox.config import REPO_ROOT, SandboxConfig
from sandbox.controller import read_status
from sandbox.credentials import environment_values, load_or_create
from sandbox.processes import (
    CONTROLLER_STOP_S, SandboxError, is_alive, port_open, require_port_free, stop_process_group, tail, wait_until)
from sandbox.temporal_server import start_temporal, temporal_process

PROGRESS_EVERY_S = 10


def up(config: SandboxConfig) -> int:
    started = time.monotonic()
    restarted = {c.name for c in components(config).values() if c.name != "postgres" and c.managed.pid() is None}
    creds = load_or_create(config)
    env = environment_values(config, creds)
    datastores.ensure_tls(config)
    datastores.start_redis(config, creds["REDIS_PASSWORD"])
    print(f"redis       up   rediss://{config.host}:{config.redis_port} (TLS, AOF, noeviction)")
    datastores.start_postgres(config, creds["POSTGRES_PASSWORD"])
    print(f"postgres    up   {config.host}:{config.postgres_port}/filot")
    _apply_migrations(env["DATABASE_URL"])
    print("migrations  applied")
    _start_buli2(config, env)
    print(f"buli2       up   {config.buli2_url} (simulator)")
    if config.temporal:
        start_temporal(config)
        print(f"temporal    up   {config.temporal_endpoint} namespace {config.temporal_namespace} (dev server)")
    _start_controller(config)
    _wait_healthy(config, started)
    print(f"sandbox healthy in {time.monotonic() - started:.0f}s: API {config.api_url}, EPR {config.epr_api_url},"
          f" AWS {config.aws_endpoint_url}")
    from sandbox import faults

    try:
        still = faults.forget_undone(config, restarted)
    except faults.FaultError as exc:
        print(f"faults: {exc}")
        return 0
    if still:
        print(f"active faults (not undone by this start): {', '.join(still)}")
    return 0


def _apply_migrations(database_url: str) -> None:
    try:
        result = subprocess.run([sys.executable, "-m", "sandbox.migrations", "apply", "--database-url", database_url],
                                capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        raise SandboxError("migrations: `python -m sandbox.migrations apply` did not finish within 120 s") from None
    if result.returncode != 0:
        raise SandboxError(f"migrations: `python -m sandbox.migrations apply` failed:\n{result.stderr[-2000:]}")


def _start_buli2(config: SandboxConfig, env: dict[str, str]) -> None:
    managed = buli2_process(config)
    if managed.pid():
        return
    require_port_free("buli2", config.host, config.buli2_port)
    managed.start([sys.executable, "-m", "sandbox.buli2"], cwd=REPO_ROOT, env={
        **os.environ, "HOST": config.host, "PORT": str(config.buli2_port),
        "BULI2_API_KEY": env["BULI2_API_KEY"], "BULI2_SIGNATURE_SECRET": env["BULI2_SIGNATURE_SECRET"],
        "FILOT_CALLBACK_URL": env["BULI2_CALLBACK_URL"], "PYTHONUNBUFFERED": "1",
    })


def _start_controller(config: SandboxConfig) -> None:
    managed = controller_process(config)
    if managed.pid():
        return
    for name, port in (("aws", config.aws_port), ("alb", config.alb_port), ("epr-alb", config.epr_alb_port),
                       ("upstash", config.upstash_port)):
        require_port_free(name, config.host, port)
    managed.start([sys.executable, "-m", "sandbox.controller"], cwd=REPO_ROOT, env={
        **os.environ, "MOTO_ACCOUNT_ID": config.account_id, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": config.region, "PYTHONUNBUFFERED": "1",
    })


def _wait_healthy(config: SandboxConfig, started: float) -> None:
    """Every service has its desired tasks healthy and the ALB answers; a progress line every 10 s."""
    managed = controller_process(config)
    last = [time.monotonic()]

    def healthy() -> bool:
        status = read_status(config)
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            print(f"  waiting for services ({time.monotonic() - started:.0f}s): {_describe(status)}", flush=True)
        if managed.pid() is None:
            return True
        return bool(status) and all(s["healthy"] >= s["desired"] for s in status["services"].values()) \
            and port_open(config.host, config.alb_port) and port_open(config.host, config.epr_alb_port)

    deadline = config.start_deadline_s * 4
    if not wait_until(healthy, deadline, poll_s=0.5) or managed.pid() is None:
        state = "exited" if managed.pid() is None else f"not healthy after {deadline:.0f}s: {_describe(read_status(config))}"
        raise SandboxError(f"controller {state}; last lines of {managed.log_file}:\n{tail(managed.log_file, 25)}")


def _describe(status: dict | None) -> str:
    if not status:
        return "control plane starting"
    return ", ".join(f"{k} {s['healthy']}/{s['desired']} healthy" + _last_stop(s) for k, s in status["services"].items())


def _last_stop(service: dict) -> str:
    """Why the last task of a service short of healthy tasks stopped: what an operator needs while waiting."""
    reason = service.get("lastStoppedReason")
    return f" (last task stopped: {reason})" if reason and service["healthy"] < service["desired"] else ""


def down(config: SandboxConfig) -> int:
    status = read_status(config)
    for managed in (controller_process(config), temporal_process(config), buli2_process(config),
                    datastores.postgres_process(config), datastores.redis_process(config)):
        print(f"{managed.name:<11} {'stopped' if managed.stop(deadline_s=CONTROLLER_STOP_S) else 'not running'}")
    for service in (status or {}).get("services", {}).values():
        for task in service["tasks"]:
            for pid in [task["pid"], *(c["pid"] for c in task.get("sidecars", {}).values())]:
                if is_alive(pid):  # a container left behind by a controller that was killed
                    stop_process_group(pid, deadline_s=10)
                    print(f"task        stopped orphan pid {pid}")
    return 0


#: ``status`` exit codes: healthy, running but not healthy, not running at all. Every other command
#: exits NOT_RUNNING too when a component it needs is down (``components.NotRunning``).
HEALTHY, UNHEALTHY, NOT_RUNNING = 0, 1, 3
#: Exit code when stdout's reader went away (``status | head -1``): what a SIGPIPE death gives.
BROKEN_PIPE = 128 + signal.SIGPIPE


def status(config: SandboxConfig, quiet: bool) -> int:
    """Each component with pid, address and health; exit 0 healthy, 1 unhealthy, 3 not running."""
    state = read_status(config)
    rows = [(c.name, c.managed.pid(), c.address, None) for c in components(config).values()]
    ok = all(pid for _, pid, _, _ in rows) and state is not None
    for service, data in (state or {}).get("services", {}).items():
        ok = ok and data["healthy"] >= data["desired"]
        for task in data["tasks"]:
            rows.append((f"  {service}", task["pid"], f"{task['ip']}:{config.container_port}",
                         "healthy" if task["healthy"] else "unhealthy"))
    if not quiet:
        for name, pid, address, health in rows:
            print(f"{name:<12} {('pid ' + str(pid)) if pid else 'down':<10} {address:<28} {health or ('up' if pid else 'down')}")
        _print_revisions(config, state)
        _print_faults(config)
        print("sandbox: " + ("healthy" if ok else "NOT healthy"))
    if not any(pid for _, pid, _, _ in rows[:4]):
        return NOT_RUNNING
    return HEALTHY if ok else UNHEALTHY


def _print_revisions(config: SandboxConfig, state: dict | None) -> None:
    """Each service's revision beside the deploy record's: after a gate's rollback they differ, and the
    gate's infra checks will fail until the recorded revision is deployed again."""
    try:
        recorded = json.loads(config.deploy_record.read_text())["services"]
    except (OSError, ValueError, KeyError):
        recorded = {}
    for service, data in (state or {}).get("services", {}).items():
        running = data["taskDefinition"].rsplit("/", 1)[-1]
        expected = (recorded.get(service) or {}).get("taskDefinitionArn", "").rsplit("/", 1)[-1]
        if not expected or expected == running:
            print(f"{service:<12} runs {running} (the deploy record's)" if expected else f"{service:<12} runs {running}")
        else:
            print(f"{service:<12} runs {running}, the deploy record says {expected} (rolled back, or changed by hand);"
                  f" python -m sandbox deploy --service {service} deploys the manifest again")


def _print_faults(config: SandboxConfig) -> None:
    from sandbox import faults

    try:
        state = faults.active(config)
    except faults.FaultError as exc:
        print(f"faults       {exc}")
        return
    for name, entry in state.items():
        half = f", half made: {entry['halfMade']}" if entry.get("halfMade") else ""
        print(f"fault        {name:<28} active since {entry['since']}{half} (heal: python -m sandbox heal {name})")


def fault_command(config: SandboxConfig, command: str, name: str | None, list_only: bool, heal_all: bool) -> int:
    """``fault NAME`` / ``fault --list`` / ``heal NAME`` / ``heal --all``; 2 for a name nobody knows."""
    import botocore.exceptions
    import httpx
    import psycopg
    import redis

    from filot_gate.deploy import DeployError
    from sandbox import faults

    if list_only:
        print("\n".join(faults.describe()))
        return 0
    if name is not None and name not in faults.FAULTS:
        print(f"sandbox {command}: unknown fault {name!r}; known faults: {', '.join(faults.FAULTS)}", file=sys.stderr)
        return 2
    try:
        if command == "fault":
            faults.inject(config, name)
        elif heal_all:
            faults.heal_all(config)
        else:
            faults.heal(config, name)
    except (faults.FaultError, DeployError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError,
            redis.RedisError, psycopg.Error, httpx.HTTPError, OSError) as exc:
        print(f"sandbox {command} {name or '--all'}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sandbox {command} {name or '--all'}: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every component (idempotent) and wait until healthy")
    sub.add_parser("down", help="stop every component; no process is left behind")
    status_parser = sub.add_parser("status", help="each component's pid, address and health (exit 0 = healthy)")
    status_parser.add_argument("--quiet", action="store_true", help="no output, exit code only")
    deploy_parser = sub.add_parser("deploy", help="deploy a new revision of a service and write the deploy record")
    deploy_parser.add_argument("--service", required=True, choices=sorted(aws_names.SERVICES))
    deploy_parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                               help="container environment of the new revision (repeatable)")
    deploy_parser.add_argument("--broken", choices=("bad-env",), help="ship a revision whose tasks refuse to start")
    deploy_parser.add_argument("--image", choices=("current", "previous"), default="current",
                               help="which image of image-versions.json to deploy")
    deploy_parser.add_argument("--no-wait", action="store_true", help="do not wait for the service to be stable")
    fault_parser = sub.add_parser("fault", help="inject a named fault into the running sandbox (--list: the faults)")
    fault_parser.add_argument("name", nargs="?", help="the fault (see --list)")
    fault_parser.add_argument("--list", action="store_true", help="each fault: what it breaks, which gate check fails")
    heal_parser = sub.add_parser("heal", help="undo a fault injected with `fault NAME`")
    heal_parser.add_argument("name", nargs="?", help="the fault to heal")
    heal_parser.add_argument("--all", action="store_true", help="heal every active fault")
    args = parser.parse_args(argv)
    if args.command == "fault" and bool(args.name) == bool(args.list):
        parser.error("fault takes a NAME or --list")
    if args.command == "heal" and bool(args.name) == bool(args.all):
        parser.error("heal takes a NAME or --all")
    config = SandboxConfig()
    try:
        if args.command == "up":
            return up(config)
        if args.command == "down":
            return down(config)
        if args.command == "deploy":
            from sandbox.deploy import deploy

            settings = dict(item.split("=", 1) for item in args.set if "=" in item)
            if len(settings) != len(args.set):
                parser.error("--set takes KEY=VALUE")
            return deploy(config, args.service, settings, args.broken, args.image, not args.no_wait)
        if args.command in ("fault", "heal"):
            return fault_command(config, args.command, args.name, getattr(args, "list", False), getattr(args, "all", False))
        return status(config, args.quiet)
    except NotRunning as exc:
        target = f" {args.name or '--all'}" if args.command in ("fault", "heal") else ""
        print(f"sandbox {args.command}{target}: {exc}", file=sys.stderr)
        return NOT_RUNNING
    except SandboxError as exc:
        print(f"sandbox {args.command}: {exc}", file=sys.stderr)
        return 1


def run(argv: list[str] | None = None) -> int:
    """``main`` for a shell: output cut short by its reader (``status | head -1``) ends quietly."""
    try:
        code = main(argv)
        sys.stdout.flush()  # inside the try: the interpreter's own flush at exit would print a traceback
    except BrokenPipeError:
        # Python's documented recipe: stdout to /dev/null, so that the final flush at exit is silent too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(run())
