"""CloudWatch metrics FiLot publishes and its alarms watch (seed 000 section 6, seed 002 section 7).

The alarms in ``alerts/cloudwatch-alarms.json`` and whatever publishes the metrics (the FiLot
services in production, the sandbox's metric publisher locally) both use these names, so that an
alarm watches exactly what is published. FiLot's own metrics carry no dimensions: one deployment per
account and region. The ALB metrics are AWS's own (namespace ``AWS/ApplicationELB``, dimension
``LoadBalancer`` = the part of the load balancer ARN after ``loadbalancer/``).
"""

from __future__ import annotations

#: Namespace of the metrics FiLot publishes itself.
NAMESPACE = "FiLot"

#: Length of ``filot:ocr:gpu:queue`` (Count), sampled at least once a minute.
QUEUE_LENGTH = "QueueLength"
#: Number of escalations in ``filot:buli2:retry_queue`` (Count).
BULI2_RETRY_QUEUE_DEPTH = "Buli2RetryQueueDepth"
#: p95 of API request latency over the last minute (Milliseconds).
API_LATENCY_P95_MS = "ApiLatencyP95Ms"
#: p95 of OCR job duration, enqueue to result, over the last minute (Milliseconds).
OCR_PROCESSING_P95_MS = "OcrProcessingP95Ms"
#: Number of OCR workers with a live heartbeat key (Count). "Worker down" watches this rather than
#: active jobs, because an idle healthy worker also has zero active jobs.
OCR_WORKERS_ALIVE = "OcrWorkersAlive"
#: Number of jobs in ``filot:ocr:gpu:processing`` (Count), for the dashboard.
OCR_ACTIVE_JOBS = "OcrActiveJobs"

#: Every FiLot metric name and its CloudWatch unit.
UNITS = {
    QUEUE_LENGTH: "Count",
    BULI2_RETRY_QUEUE_DEPTH: "Count",
    API_LATENCY_P95_MS: "Milliseconds",
    OCR_PROCESSING_P95_MS: "Milliseconds",
    OCR_WORKERS_ALIVE: "Count",
    OCR_ACTIVE_JOBS: "Count",
}

#: The gauges FiLot publishes every minute, traffic or not. An alarm on one of them that has no recent
#: datapoint can never fire (a renamed metric, a publisher that stopped): the gate checks they arrive.
#: The latencies are published only for minutes with requests or finished jobs, the ALB's counts only
#: with traffic, so a quiet minute leaves no datapoint for them.
GAUGES = (QUEUE_LENGTH, BULI2_RETRY_QUEUE_DEPTH, OCR_WORKERS_ALIVE, OCR_ACTIVE_JOBS)

#: The ALB's metrics (published by AWS; by the sandbox's ALB locally).
ALB_NAMESPACE = "AWS/ApplicationELB"
ALB_DIMENSION = "LoadBalancer"
ALB_TARGET_5XX = "HTTPCode_Target_5XX_Count"
ALB_REQUESTS = "RequestCount"

# --- GET /metrics of the API (DESIGN.md section 3; seed 002 sections 7 and 9, METRICS_ENABLED) ---------

#: Prometheus series the API serves at ``GET /metrics`` (its settings' ``METRICS_ENABLED=false`` turns
#: the route off, 404).
PROM_QUEUE_LENGTH = "filot_ocr_queue_length"
PROM_PROCESSING = "filot_ocr_processing_count"
PROM_DEAD_LETTER = "filot_ocr_dead_letter_count"
PROM_BULI2_RETRY_DEPTH = "filot_buli2_retry_queue_depth"
PROM_DOCUMENTS_BY_STATUS = "filot_documents_by_status"
PROM_REQUEST_DURATION = "filot_http_request_duration_seconds"
#: 1 when the API could read the source (label ``source``: redis, postgres) at this scrape, else 0.
PROM_SOURCE_UP = "filot_metrics_source_up"
#: What DESIGN.md promises: queue length, BULI2 retry depth, documents by status, request latency.
PROM_REQUIRED = (PROM_QUEUE_LENGTH, PROM_BULI2_RETRY_DEPTH, PROM_DOCUMENTS_BY_STATUS, PROM_REQUEST_DURATION, PROM_SOURCE_UP)
