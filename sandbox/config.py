"""Where the sandbox keeps its state and which loopback addresses and ports it uses.

Every value can be overridden by an environment variable ``FILOT_SANDBOX_<FIELD>`` (upper case),
so that two sandboxes (a developer's and a selftest's) can run side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class SandboxConfig(BaseSettings):
    """Typed settings of one sandbox instance."""

    model_config = SettingsConfigDict(env_prefix="FILOT_SANDBOX_", frozen=True)
    #: The fields of the ports the sandbox listens on at ``host`` (a second sandbox must move them all).
    LISTENER_PORTS: ClassVar[tuple[str, ...]] = ("aws_port", "redis_port", "postgres_port", "alb_port", "buli2_port",
                                                 "epr_alb_port", "upstash_port", "temporal_port",
                                                 "temporal_http_port", "temporal_metrics_port")

    home: Path = Field(default=REPO_ROOT / ".sandbox", description="state directory (certs, data, logs, pids)")
    host: str = "127.0.0.1"
    aws_port: int = 4566
    redis_port: int = 6380
    postgres_port: int = 5433
    alb_port: int = 8000
    buli2_port: int = 8090
    #: The EPR API's load balancer (seed 004 "Via load balancer"), in front of the EPR tasks.
    epr_alb_port: int = 8001
    #: Upstash's REST API in front of Redis: EPR's cache (seed 004 ``EPR_REDIS_URL``), HTTPS.
    upstash_port: int = 8079
    #: Temporal (the Temporal CLI's dev server): its gRPC frontend, HTTP API and metrics.
    temporal_port: int = 7233
    temporal_http_port: int = 7243
    temporal_metrics_port: int = 7244
    #: The backend uses Temporal (deployed ``--with temporal``; the local profile's ``[temporal] enabled``).
    temporal: bool = True
    temporal_namespace: str = "filot"
    #: Each ECS task gets its own loopback address (like an awsvpc ENI): 127.0.<subnet>.<n>.
    backend_task_subnet: int = 11
    gpu_task_subnet: int = 12
    epr_task_subnet: int = 13
    container_port: int = 8080
    region: str = "ap-southeast-2"
    account_id: str = "070017891928"
    #: Seconds any start-up step may take before `up` gives up with a message.
    start_deadline_s: float = 60.0
    #: Seconds of sandbox time that stand for one minute of CloudWatch time: metrics are sampled and
    #: alarms judged once per such period (a 5 x 60 s alarm fires after 5 x this in the sandbox).
    alarm_minute_s: float = 3.0

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        """The ALB's listener: the URL clients (and the gate) use."""
        return f"http://{self.host}:{self.alb_port}"

    @property
    def epr_redis_url(self) -> str:
        return f"https://{self.host}:{self.upstash_port}"

    @property
    def temporal_endpoint(self) -> str:
        """``host:port`` of Temporal's frontend, as ``TEMPORAL_ENDPOINT`` names it (no scheme)."""
        return f"{self.host}:{self.temporal_port}"

    @property
    def features(self) -> frozenset[str]:
        """The optional integrations the sandbox deploys FiLot with (``filot_gate.manifests.FEATURE_FILES``)."""
        return frozenset({"temporal"} if self.temporal else ())

    @property
    def buli2_url(self) -> str:
        return f"http://{self.host}:{self.buli2_port}"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def deploy_record(self) -> Path:
        """Written by the sandbox's deploys; the local profile's ``deploy.record`` points here."""
        return self.home / "deploy-record.json"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def epr_api_url(self) -> str:
        """The EPR load balancer's listener: the URL the gate's ``[epr] api_url`` names."""
        return f"http://{self.host}:{self.epr_alb_port}"

    def task_ip(self, service: str, index: int) -> str:
        """The loopback address of task ``index`` (1-based) of a service ("backend", "ocr-gpu", "epr")."""
        subnets = {"backend": self.backend_task_subnet, "ocr-gpu": self.gpu_task_subnet, "epr": self.epr_task_subnet}
        return f"127.0.{subnets[service]}.{index}"
