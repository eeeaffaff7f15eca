"""A real S3-compatible server on loopback (moto's), for tests of remote storage.

Example:
```python
with LoopbackS3() as s3:                      # moto in server mode, 127.0.0.1:<free port>
    os.environ.update(s3.environment())       # what s3fs / boto3 read
    s3.create_bucket("state")
    synaprefect.storage.location("s3://state/qa.json").write_json({"ok": True})
```
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["LoopbackS3"]


class LoopbackS3:
    """moto's S3 server in a thread of this process; stop it with ``stop`` or ``with``."""

    # Fake credentials that tests search for in saved files, logs and errors.
    access_key = "AKIALOOPBACKTESTKEY0"
    secret_key = "loopback-secret-must-never-be-saved"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 and s3fs (in this process and its children)
        at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def start(self) -> LoopbackS3:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LoopbackS3:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
