"""The host side of the UART end-to-end test: its own process, pyserial on a pty.

    python -m testbench.uart.host_client SLAVE_PATH PLAN_JSON RESULT_JSON MUTE_FLAG

Opens the device with the host driver only (no hw/ import), refuses a stale
metadata file, runs testbench/host_e2e.run_plan, then the plan's "reopen"
generation twice with the link broken mid-generation: once the cable is
"pulled" right after the device executed a token read (that answer is lost,
the port closed; tokens read by number), once the port is closed between two
streamed tokens; each time the
driver opens the pty again (a new SerialTransport, a new random seq) and must
deliver exactly the golden tokens. Last it asks the pty bridge to go silent
(by creating MUTE_FLAG) and records that the next access raises DeviceTimeout
instead of hanging.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from host import registers as R
from host.device import open_device
from host.errors import DeviceError
from testbench.host_e2e import _attempt, run_plan


def pulled_cable(dev, case: dict) -> dict:
    """The answer of the 2nd token read is lost and the port closed (a pulled cable). Tokens are read
    by number here (streaming off): a streamed run may never read, and closed_between_tokens breaks
    a streamed one."""
    t = dev.transport
    dev.stream = False
    real, reads = t.read_many, []

    def read_many(addr, count, increment=False):
        words = real(addr, count, increment)
        if addr >= R.TOKEN_WINDOW:
            reads.append(addr)
            if len(reads) == 2:
                t.close()
                raise DeviceError(f"{t.name}: cable pulled (test), the answer is lost")
        return words

    t.read_many = read_many
    try:
        ids = [tok.id for tok in dev.generate(case["prompt"], case["max_new"], **case["kw"])]
    finally:
        dev.stream = True
    return {"ids": ids, "reconnects": dev.last_run.reconnects, "reopened": dev.transport is not t}


def closed_between_tokens(dev, case: dict) -> dict:
    """The port is closed after the 3rd token, while the device is still generating."""
    t = dev.transport
    ids = []
    for tok in dev.generate(case["prompt"], case["max_new"], **case["kw"]):
        ids.append(tok.id)
        if len(ids) == 3:
            t.close()
    return {"ids": ids, "reconnects": dev.last_run.reconnects, "reopened": dev.transport is not t}


def main(argv: list[str]) -> int:
    slave, plan_path, result_path, mute_flag = argv
    plan = json.loads(Path(plan_path).read_text())
    res: dict = {}
    uri = f"serial:{slave}?retries=8&response_timeout=1.0"
    if plan.get("stale_metadata"):
        res["stale"] = _attempt(lambda: open_device(uri, metadata=plan["stale_metadata"], timeout=60).close())
    with open_device(uri, metadata=plan["metadata"] or False, timeout=60) as dev:
        res.update(run_plan(dev, plan))
        if plan.get("reopen"):
            res["pulled_cable"] = _attempt(lambda: pulled_cable(dev, plan["reopen"]))
            res["closed_between_tokens"] = _attempt(lambda: closed_between_tokens(dev, plan["reopen"]))
        t = dev.transport
        t.timeout, t.retries = 0.3, 2           # the bridge goes silent: fail fast
        Path(mute_flag).touch()
        t0 = time.monotonic()
        res["mute"] = _attempt(lambda: t.read(R.STATUS))
        res["mute"]["seconds"] = time.monotonic() - t0
    Path(result_path).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
