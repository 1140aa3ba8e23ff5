"""The tiny accelerator the host driver's end-to-end tests run on, built once per session,
and the checks every transport's results must pass."""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from host.metadata import Metadata, identity_from_build_json
from hw.golden import LoraInt

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "hw" / "rtl"
SEED = 3
CONTEXT, K_MAX, LORA_RANK, LORA_TARGETS, STREAMS = 16, 8, 2, ("wq", "w2"), 2


@functools.lru_cache(maxsize=None)
def accelerator():
    """(model, build folder, Verilog sources of hardwire_top) of the e2e build, generated once."""
    from hw.rtlgen.fixture import random_int_model
    from hw.rtlgen.generate import generate
    from hw.rtlgen.knobs import Knobs
    from testbench.runner import SIM_BUILD

    model = random_int_model(SEED)
    out = SIM_BUILD / "e2e" / f"host-s{SEED}"
    info = generate(model, out, Knobs(lanes=4, values_per_lane=4, context=CONTEXT, k_max=K_MAX,
                                      lora_rank=LORA_RANK, lora_targets=LORA_TARGETS, streams=STREAMS))
    ident = identity_from_build_json(json.loads((out / "build.json").read_text()))
    Metadata(ident, model=f"random_int_model({SEED})").save(out / "hardwire.json")
    return model, out, [*info.static_sources, info.top]


def lora_adapters(model) -> dict:
    cfg = model.config
    rng = np.random.default_rng(SEED)

    def one(out, inp):
        return LoraInt(rng.integers(-127, 128, (LORA_RANK, inp)), rng.integers(-127, 128, (out, LORA_RANK)),
                       int(rng.integers(1 << 14, 1 << 15)), 13, int(rng.integers(1 << 14, 1 << 15)), 11)

    return {(0, "wq"): one(cfg.dim, cfg.dim), (1, "w2"): one(cfg.dim, cfg.hidden_dim)}


def write_plan(work: Path) -> Path:
    from testbench.host_e2e import make_plan
    model, out, _ = accelerator()
    plan_path = make_plan(model, work, CONTEXT, K_MAX, lora_adapters(model), metadata=str(out / "hardwire.json"))
    plan = json.loads(plan_path.read_text())
    stale = Metadata.load(out / "hardwire.json")
    stale.identity = dataclasses.replace(stale.identity, fingerprint="f" * 64)
    plan["stale_metadata"] = str(stale.save(work / "stale.hardwire.json"))
    # a generation long enough that a link broken mid-way has tokens before and after it
    from hw.golden import GoldenModel
    prompt, n, kw = [1, 3], CONTEXT - 3, {"temperature": 2.0, "top_k": 6, "seed": 77}
    plan["reopen"] = {"prompt": prompt, "max_new": n, "kw": kw,
                      "expect": [int(t) for t in GoldenModel(model, context=CONTEXT, k_max=K_MAX).generate(prompt, n, **kw)]}
    plan_path.write_text(json.dumps(plan, indent=1))
    return plan_path


def check_results(plan: dict, res: dict) -> None:
    """Every case equals GoldenModel.generate; refusals name their reason. All checks run,
    and every failure is reported together."""
    model, _, _ = accelerator()
    base = plan["cases"][0]["expect"]
    stale = res["stale"]
    checks = [(f"case {c['name']}", res["cases"][c["name"]].get("value") == c["expect"],
               (c["expect"], res["cases"][c["name"]])) for c in plan["cases"]]
    checks += [
        ("too long refused", res["too_long"].get("error") == "PromptError" and
         f"prompt of {CONTEXT + 1} tokens does not fit the context of {CONTEXT} positions"
         in res["too_long"].get("message", ""), res["too_long"]),
        ("usable after the refusal", res["after_refusal"].get("value") == base, res["after_refusal"]),
        ("usable after an early stop", res["after_abort"].get("value") == base, res["after_abort"]),
        ("the adapter changes the output", plan["lora"]["expect"] != base, plan["lora"]["expect"]),
        ("LoRA output = golden with the adapter", res["lora"].get("value") == plan["lora"]["expect"],
         (plan["lora"]["expect"], res["lora"])),
        ("clearing LoRA restores the base output", res["lora_cleared"].get("value") == base,
         res["lora_cleared"]),
        ("two streams taking turns, each = golden alone",
         res.get("streams", {}).get("value") == {n: next(c["expect"] for c in plan["cases"] if c["name"] == n)
                                         for n in plan["streams"]["cases"]}, res.get("streams")),
        ("stale fingerprint refused, both named", stale.get("error") == "IdentityMismatch"
         and model.fingerprint in stale.get("message", "") and "f" * 64 in stale.get("message", ""), stale),
    ]
    if plan.get("reopen") and ("pulled_cable" in res or "closed_between_tokens" in res):
        for key in ("pulled_cable", "closed_between_tokens"):
            r = res[key].get("value") or {}
            checks.append((f"link broken mid-generation ({key}): golden tokens over a reopened port",
                           r.get("ids") == plan["reopen"]["expect"] and r.get("reconnects") == 1 and r.get("reopened"),
                           (plan["reopen"]["expect"], res[key])))
    failed = [f"{name}: {detail}" for name, ok, detail in checks if not ok]
    assert not failed, "\n".join(failed)
