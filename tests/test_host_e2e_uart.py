"""The serial transport end to end: pyserial on a pseudo-terminal, bridged to the Verilator
model of the UART boards' top hw_board_uart (hardwire_top behind hw_uart_bridge; testbench/uart/test_uart_e2e.py), bytes flipped and
dropped on the way, the tokens pushed by the bridge's stream. Tokens equal GoldenModel.generate, also when the port is closed
mid-generation and the driver reopens it; LoRA upload and clear, a stale fingerprint, a
too-long prompt and a device that stops answering behave as documented."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("cocotb")
from testbench.runner import build_once, run_cocotb  # noqa: E402
from hw.links.uart import BOARD_RTL, BRIDGE_RTL  # noqa: E402
from tests.host_e2e_build import RTL, accelerator, check_results, write_plan  # noqa: E402

CLKS_PER_BIT = 4
FAULT_RATE = 0.004      # per byte: a flipped bit towards the device, a dropped byte back


@pytest.mark.sim
@pytest.mark.slow
def test_serial_transport_on_the_rtl(tmp_path):
    model, out, sources = accelerator()
    # the UART boards' own top (the one `hardwire build` wraps around its PLL), reset button high
    build = build_once("host_e2e_uart", [*sources, *(RTL / n for n in BRIDGE_RTL), BOARD_RTL],
                       "hw_board_uart", parameters={"CLKS_PER_BIT": CLKS_PER_BIT, "RST_ACTIVE_LOW": 0,
                                                    "ROM_DIR": f'"{out / "rom"}"'},
                       build_args=["-Wno-fatal"])
    plan_path = write_plan(tmp_path)
    run_cocotb(build, "testbench.uart.test_uart_e2e",
               extra_env={"E2E_DIR": str(tmp_path), "UART_CLKS_PER_BIT": str(CLKS_PER_BIT),
                          "FAULT_RATE": str(FAULT_RATE), "FAULT_SEED": "7"})
    res = json.loads((tmp_path / "result.json").read_text())
    # the port closed mid-generation and reopened: golden tokens, one reconnect (check_results)
    assert "pulled_cable" in res and "closed_between_tokens" in res, sorted(res)
    check_results(json.loads(plan_path.read_text()), res)
    stats = res["stats"]
    assert stats["resends"] > 0 and stats["bad_frames"] + stats["nacks"] + stats["timeouts"] > 0, stats
    # the RTL bridge pushed the tokens (docs/uart_protocol.md, "Streaming"), through the same noise
    assert stats["stream_frames"] > 0, stats
    assert res["mute"]["error"] == "DeviceTimeout" and res["mute"]["seconds"] < 10, res["mute"]
