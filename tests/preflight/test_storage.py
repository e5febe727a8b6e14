"""Preflight: FiLot's document bucket (Cloudflare R2 in production; seed 003 task 5, "Cloudflare R2
Validation": the S3 API with the ``CF_R2_*`` secret, "Confirmed presigned URL functionality"). The gate
puts a small object under its own prefix with the secret's credentials, then downloads it through a
presigned URL, as a browser follows one; the object is removed with the run's other synthetic data."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from filot_gate.target import http_client

pytestmark = pytest.mark.preflight

#: How long the probe's presigned URL stays valid: only for this check.
PRESIGNED_EXPIRES_S = 300


def test_bucket_takes_the_secrets_credentials_and_serves_a_presigned_download(synthetic, target, run_id, evidence):
    where = f"bucket {synthetic.bucket} (secret {target.secrets_prefix}/cf-r2)"
    body = f"filot-gate storage probe of run {run_id}\n".encode()
    try:
        bucket, key = synthetic.put_object(body, ".txt", "text/plain")
    except ClientError as exc:
        refused = exc.response.get("Error", {})
    else:
        refused = None
    if refused is not None:
        pytest.fail(f"{where}: expected to take an object with the secret's credentials (S3 PutObject),"
                    f" got {refused.get('Code')}: {refused.get('Message')}")
    url = synthetic.object_store.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_EXPIRES_S)
    with http_client("") as client:
        answer = client.get(url)
    evidence.add("presigned GET", {"url": target.redactor.text(url), "status": answer.status_code,
                                   "bytes": len(answer.content)})
    assert answer.status_code == 200 and answer.content == body, (
        f"{where}: expected a presigned GET of s3://{bucket}/{key} to answer 200 with the object's {len(body)} bytes,"
        f" got {answer.status_code} with {len(answer.content)} bytes: {answer.text[:200]}")
