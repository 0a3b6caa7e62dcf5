"""--watch riding out an outage: DynamoDB (Local) unreachable mid-watch, then reachable again.

The endpoint the script is given is a small TCP proxy in front of the session's DynamoDB Local:
paused, it refuses connections (as a DynamoDB that is down or out of reach); resumed, it answers
again on the same port. The watch must say on screen (or, with ``--json``, on stderr) that
DynamoDB is not answering, keep polling with a backoff, and end only when the job ends (exit 0)
or on Ctrl-C (130).
"""

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from typing import Any, Iterator, List

import pytest

from tests.support.management import SCRIPT, Tables, finish_job, local, make_job, script_env
from tests.support.terminal import in_terminal, plain_text

pytestmark = local


class Proxy:
    """Forwards TCP connections from a port of its own to ``target`` until paused."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: List[socket.socket] = []
        self.lock = threading.Lock()
        self.resume()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def resume(self) -> None:
        """Listen (again) on the same port and forward what arrives."""
        if self.listener.fileno() == -1:
            self.listener = socket.create_server(("127.0.0.1", self.port))
        listener = self.listener
        threading.Thread(target=self.accept, args=(listener,), daemon=True).start()

    def pause(self) -> None:
        """Stop listening and cut every open connection: connections are refused until :meth:`resume`."""
        with contextlib.suppress(OSError):  # (wakes the thread blocked in accept: a close alone would not)
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # (a close alone leaves a connection a thread reads from open)
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.connections.clear()

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # paused
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for each in (source, sink):
            each.close()


@pytest.fixture
def proxy(dynamodb_local: Any) -> Iterator[Proxy]:
    server = Proxy(dynamodb_local.port)
    yield server
    server.pause()


def test_status_watch_json_rides_out_an_outage(proxy: Proxy, dynamodb_local: Any) -> None:
    tables = Tables(proxy.endpoint)
    make_job(tables)
    watch = subprocess.Popen([str(SCRIPT), "status", "img", "--watch", "--json", "--interval", "0.5",
                              *tables.args()], env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    errors: List[str] = []
    try:
        assert watch.stdout is not None and watch.stderr is not None
        assert json.loads(watch.stdout.readline())["job"]["state"] == "running"
        proxy.pause()
        errors.append(watch.stderr.readline())  # the first failed poll, told on stderr
        errors.append(watch.stderr.readline())  # ... and the next: still watching
        assert watch.poll() is None
        proxy.resume()
        finish_job(tables)
        rest, more = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, [*errors, more]
    for line, polls in zip(errors, ("1 failed poll)", "2 failed polls)")):
        assert line.startswith("pynamodb-tables: DynamoDB not answering since "), line
        assert polls in line and "Could not connect to the endpoint URL" in line and "polling again in" in line
    assert errors[0].split("since ")[1][:20] == errors[1].split("since ")[1][:20]  # one outage, since its start
    assert json.loads(rest.strip().splitlines()[-1])["job"]["state"] == "ended"


@pytest.mark.full
def test_status_watch_in_a_terminal_rides_out_an_outage(proxy: Proxy, dynamodb_local: Any) -> None:
    tables = Tables(proxy.endpoint)
    make_job(tables)

    def come_back() -> None:
        proxy.resume()
        finish_job(tables)

    started = time.monotonic()
    code, output = in_terminal(["status", "img", "--watch", "--interval", "0.5", *tables.args()],
                               script_env(TERM="xterm-256color"), when=("r-2", proxy.pause),
                               then=[("2 failed polls", come_back)], timeout=60)
    assert code == 0, output
    text = plain_text(output)
    assert "DynamoDB not answering since" in text and "(Ctrl-C to stop)" in text
    assert "3/3 done: 2 succeeded, 1 with errors" in text[text.rindex("DynamoDB not answering"):]  # came back
    assert time.monotonic() - started > 1.5  # it waited for DynamoDB, not exited on the first failure


@pytest.mark.full
def test_a_watch_during_an_outage_ends_on_ctrl_c(proxy: Proxy, dynamodb_local: Any) -> None:
    tables = Tables(proxy.endpoint)
    make_job(tables)
    proxy.pause()
    # Ctrl-C as in a terminal: a test run started in the background (`cmd &`) ignores SIGINT, and so would the
    # script it starts, were its default not set again.
    watch = subprocess.Popen([str(SCRIPT), "list-jobs", "--watch", "--json", "--interval", "0.5", *tables.args()],
                             env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert watch.stderr is not None
        assert "DynamoDB not answering since" in watch.stderr.readline()  # no answer yet: it waits
        watch.send_signal(signal.SIGINT)
        out, errors = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert watch.returncode == 130 and out == "" and errors.strip().endswith("pynamodb-tables: error: interrupted")
