"""Data capture: what an endpoint's DataCaptureConfig asks for, written to S3 as SageMaker lays
it out: `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`, one JSON
line per sampled request (captureData.endpointInput / endpointOutput, eventMetadata,
eventVersion). A request only appends to a buffer, with the execution role of the variant that
answered it; a thread writes the buffers once a second through the cloud's own S3 API, each as
the role its lines were captured under (so the objects are stored and persisted as any upload
is, and a line keeps its role through an update or the endpoint's deletion).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smlocal.core.s3uri import split_s3_uri

log = logging.getLogger("localcloud.dataplane.capture")

FLUSH_S = 1.0


@dataclass
class CaptureSettings:
    """An endpoint config's DataCaptureConfig, resolved."""

    destination: str
    percentage: int
    modes: tuple[str, ...]  # "Input", "Output"
    csv_types: tuple[str, ...]
    json_types: tuple[str, ...]
    kms_key_id: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> CaptureSettings | None:
        if not config or not config.get("EnableCapture", True):
            return None
        header = config.get("CaptureContentTypeHeader") or {}
        return cls(
            destination=str(config["DestinationS3Uri"]).rstrip("/"),
            percentage=int(config.get("InitialSamplingPercentage", 0)),
            modes=tuple(o["CaptureMode"] for o in config.get("CaptureOptions") or []),
            csv_types=tuple(header.get("CsvContentTypes") or ()),
            json_types=tuple(header.get("JsonContentTypes") or ()),
            kms_key_id=config.get("KmsKeyId"),
        )

    def summary(self) -> dict[str, Any]:
        """DescribeEndpoint's DataCaptureConfig (DataCaptureConfigSummary)."""
        summary: dict[str, Any] = {
            "EnableCapture": True,
            "CaptureStatus": "Started",
            "CurrentSamplingPercentage": self.percentage,
            "DestinationS3Uri": self.destination,
        }
        if self.kms_key_id:
            summary["KmsKeyId"] = self.kms_key_id
        return summary

    def sampled(self) -> bool:
        return random.random() * 100 < self.percentage

    def encode(self, body: bytes, content_type: str) -> tuple[str, str]:
        """(data, encoding): text for the content types the config names as CSV or JSON,
        base64 for everything else (SageMaker's default)."""
        media = content_type.split(";")[0].strip().lower()
        for types, encoding in ((self.csv_types, "CSV"), (self.json_types, "JSON")):
            if media in (t.lower() for t in types):
                return body.decode("utf-8", errors="replace"), encoding
        return base64.b64encode(body).decode(), "BASE64"


def capture_line(
    settings: CaptureSettings,
    *,
    request: bytes,
    request_type: str,
    response: bytes,
    response_type: str,
    inference_id: str | None,
    custom_attributes: str | None,
    when: datetime,
) -> str:
    """One capture record, as SageMaker writes it."""
    data: dict[str, Any] = {}
    if "Input" in settings.modes:
        text, encoding = settings.encode(request, request_type)
        data["endpointInput"] = {
            "observedContentType": request_type,
            "mode": "INPUT",
            "data": text,
            "encoding": encoding,
        }
    if "Output" in settings.modes:
        text, encoding = settings.encode(response, response_type)
        data["endpointOutput"] = {
            "observedContentType": response_type,
            "mode": "OUTPUT",
            "data": text,
            "encoding": encoding,
        }
    metadata: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if inference_id:
        metadata["inferenceId"] = inference_id
    if custom_attributes:
        metadata["customAttributes"] = [custom_attributes]
    return json.dumps(
        {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"},
        separators=(",", ":"),
    )


class CaptureWriter:
    """Buffers capture lines per variant, hour and role; writes each buffer as one S3 object,
    as the role its lines were captured under."""

    def __init__(self, s3_client: Callable[[tuple[str, str, str], str], Any]) -> None:
        # ((account, region, endpoint), role ARN) -> a boto3 S3 client of the cloud, signed as
        # SageMaker's session of the role for the endpoint
        self._s3_client = s3_client
        self._lock = threading.Lock()
        # (account, region, endpoint, role ARN, prefix) -> lines
        self._buffers: dict[tuple[str, str, str, str, str], list[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="endpoint-capture", daemon=True)
        self._thread.start()

    def add(
        self,
        account: str,
        region: str,
        settings: CaptureSettings,
        endpoint: str,
        variant: str,
        role_arn: str,
        line: str,
        when: datetime,
    ) -> None:
        """Buffer one line of `variant`, whose model's execution role `role_arn` writes it."""
        prefix = f"{settings.destination}/{endpoint}/{variant}/{when:%Y/%m/%d/%H}"
        with self._lock:
            self._buffers.setdefault((account, region, endpoint, role_arn, prefix), []).append(line)

    def flush(self) -> None:
        with self._lock:
            buffers, self._buffers = self._buffers, {}
        for (account, region, endpoint, role_arn, prefix), lines in buffers.items():
            now = datetime.now(UTC)
            uri = f"{prefix}/{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            try:
                bucket, key = split_s3_uri(uri, key_required=True)
                self._s3_client((account, region, endpoint), role_arn).put_object(
                    Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode()
                )
            except Exception as err:  # capture must never fail the endpoint or a request
                log.warning("data capture: could not write %s: %s", uri, err)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
