"""A stand-in for the model endpoint: a local HTTP server that the model runner's HTTP detector calls.

It decodes each tile it is sent (a GeoTIFF) with GDAL. A tile holding a pixel of ``BAD_PIXEL`` makes the
"model" fail: it answers 500 with a body that is not JSON, which the model runner counts as a failed tile.
A tile holding a pixel of ``FEATURE_PIXEL`` gets one detection back, in tile pixel coordinates; any other
tile none (an empty feature collection: a tile without features costs the model runner no feature writes).
"""

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

from osgeo import gdal

BAD_PIXEL = 255
FEATURE_PIXEL = 200

gdal.UseExceptions()


def tile_max(body: bytes) -> int:
    """The largest pixel value of an encoded tile."""
    path = f"/vsimem/fake-model-{uuid.uuid4().hex}.tif"
    gdal.FileFromMemBuffer(path, body)
    try:
        dataset = gdal.Open(path)
        return int(dataset.GetRasterBand(1).ReadAsArray().max())
    finally:
        dataset = None
        gdal.Unlink(path)


def detections(count: int, width: int = 20, height: int = 20) -> Dict[str, Any]:
    """A feature collection with ``count`` (0 or 1) detection near the tile's upper-left corner."""
    bbox = [4, 4, 4 + width, 4 + height]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": uuid.uuid4().hex,
                "geometry": None,
                "properties": {
                    "imageBBox": bbox,
                    "featureClasses": [{"iri": "compat:thing", "score": 0.9}],
                },
            }
        ][:count],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer's headers and body are two writes: with Nagle's algorithm the body waits for the client's
    # delayed acknowledgement of the headers (about 40 ms a tile).
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self._body()
        server: FakeModel = self.server  # type: ignore[assignment]
        brightest = tile_max(body)
        if brightest >= BAD_PIXEL:
            server.count("failed")
            self._answer(500, b"model error: this tile is not for me", "text/plain")
        else:
            server.count("succeeded")
            features = detections(1 if brightest >= FEATURE_PIXEL else 0)
            self._answer(200, json.dumps(features).encode(), "application/json")

    def _body(self) -> bytes:
        """The request body, sent with a length or chunked (urllib3 chunks a file it is given); one cut short
        (the caller went away: a worker the crash table kills) is a ``ConnectionError``."""
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:
                raise ConnectionError("the request's body was cut short")
            return body
        chunks: List[bytes] = []
        while True:
            line = self.rfile.readline()
            if not line:
                raise ConnectionError("the request's body was cut short")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("the request's body was cut short")
            chunks.append(chunk)
            self.rfile.readline()

    def _answer(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the harness reports what matters."""


class FakeModel(ThreadingHTTPServer):
    """The model server on 127.0.0.1 (a free port), serving from a daemon thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: Dict[str, int] = {"succeeded": 0, "failed": 0}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="fake-model", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/invocations"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that went away mid-request (a worker the crash table kills) is no error of the model's."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def count(self, outcome: str) -> None:
        with self._lock:
            self.calls[outcome] += 1

    def __enter__(self) -> "FakeModel":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
