"""The host side of the UART end-to-end test: its own process, pyserial on a pty.

    python -m testbench.uart.host_client SLAVE_PATH PLAN_JSON RESULT_JSON MUTE_FLAG

Opens the device with the host driver only (no hw/ import), refuses a stale
metadata file, runs testbench/host_e2e.run_plan, then asks the pty bridge to
go silent (by creating MUTE_FLAG) and records that the next access raises
DeviceTimeout instead of hanging.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from host import registers as R
from host.device import open_device
from testbench.host_e2e import _attempt, run_plan


def main(argv: list[str]) -> int:
    slave, plan_path, result_path, mute_flag = argv
    plan = json.loads(Path(plan_path).read_text())
    res: dict = {}
    uri = f"serial:{slave}?retries=8&response_timeout=1.0"
    if plan.get("stale_metadata"):
        res["stale"] = _attempt(lambda: open_device(uri, metadata=plan["stale_metadata"], timeout=60).close())
    with open_device(uri, metadata=plan["metadata"] or False, timeout=60) as dev:
        res.update(run_plan(dev, plan))
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
