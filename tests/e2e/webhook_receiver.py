"""A webhook receiver process for the end-to-end tests (tests/e2e/receiver.py), and subscribing it."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

from conftest import remember
from test_control_plane import ADMIN_TOKEN, ORG, call


class Receiver:
    """A receiver process (tests/e2e/receiver.py) that can be stopped and started again on its port."""

    # Ports handed to receivers in this run: the kernel may give a port just closed out again, and a
    # receiver meant to be down then shared the port of one started right after it.
    given = set()

    def __init__(self):
        while True:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            if self.port not in Receiver.given:
                break
        Receiver.given.add(self.port)
        self.file = pathlib.Path(os.environ["E2E_WORK"]) / f"receiver-{self.port}.jsonl"
        self.process = None
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        self.process = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).parent / "receiver.py"), str(self.port), str(self.file)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(5)

    def received(self):
        if not self.file.exists():
            return []
        return [json.loads(line) for line in self.file.read_text().splitlines() if line]

    def events(self, type=None):
        """The event bodies received (of `type`), decoded."""
        bodies = [json.loads(g["body"]) for g in self.received()]
        return [b for b in bodies if type is None or b["type"] == type]

    def wait_for(self, count, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received())}")


def subscribe(url, events=("run.ended",)):
    status, _, created = call("POST", f"/api/orgs/{ORG}/webhooks", token=ADMIN_TOKEN, body={"url": url, "events": list(events)})
    assert status == 201, created
    remember(created["secret"])
    return created["webhook"]["id"], created["secret"]
