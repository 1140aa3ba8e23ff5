"""The host driver's end-to-end plan: the same cases on every transport, against the RTL.

pytest builds the plan (prompts, sampling settings, a LoRA adapter, the
tokens GoldenModel.generate gives for each) with `make_plan`; the device
side (a process on a pty for UART, a cocotbpynq test for PYNQ) opens the
device with the host driver only and runs `run_plan`; pytest compares the
results with the golden tokens. run_plan needs only host/ and numpy.
"""
from __future__ import annotations

import json
import time
import types
from pathlib import Path

import numpy as np

CASES = (
    # name, prompt, max_new, sampling
    ("greedy", [1, 5, 9, 2], 6, {}),
    ("sampled", [1, 3], 6, {"temperature": 2.5, "top_k": 5, "seed": 1234}),
    ("to_context", None, 20, {}),          # prompt fills the context but 3 positions
)


def make_plan(model, out_dir: Path, context: int, k_max: int, lora: dict | None = None,
              metadata: str | None = None) -> Path:
    """Write plan.json (+ lora.npz) for `model` into out_dir; returns the plan path."""
    from hw.golden import GoldenModel

    out_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, prompt, n, kw in CASES:
        prompt = prompt or [1] + [(7 * i) % model.config.vocab_size for i in range(1, context - 3)]
        g = GoldenModel(model, context=context, k_max=k_max)
        cases.append({"name": name, "prompt": prompt, "max_new": n, "kw": kw,
                      "expect": [int(t) for t in g.generate(prompt, n, **kw)]})
    plan = {"cases": cases, "context": context, "metadata": metadata,
            # the first two cases again, on two streams of the device taking turns 2 tokens at a time
            "streams": {"chunk": 2, "cases": [c["name"] for c in cases[:2]]}}
    if lora:
        g = GoldenModel(model, context=context, k_max=k_max)
        arrays = {}
        for (layer, target), a in lora.items():
            g.set_lora(layer, target, a)
            key = f"{layer}_{target}"
            arrays[key + "_a"], arrays[key + "_b"] = np.asarray(a.a), np.asarray(a.b)
            arrays[key + "_s"] = np.array([a.m_a, a.sh_a, a.m_b, a.sh_b])
        np.savez(out_dir / "lora.npz", **arrays)
        first = cases[0]
        plan["lora"] = {"file": str(out_dir / "lora.npz"), "keys": [[l, t] for l, t in lora],
                        "expect": [int(t) for t in g.generate(first["prompt"], first["max_new"])]}
    path = out_dir / "plan.json"
    path.write_text(json.dumps(plan, indent=1))
    return path


def _load_lora(spec: dict) -> dict:
    z = np.load(spec["file"])
    out = {}
    for layer, target in spec["keys"]:
        key = f"{layer}_{target}"
        m_a, sh_a, m_b, sh_b = (int(v) for v in z[key + "_s"])
        out[(layer, target)] = types.SimpleNamespace(a=z[key + "_a"], b=z[key + "_b"], m_a=m_a, sh_a=sh_a,
                                                     m_b=m_b, sh_b=sh_b)
    return out


def _attempt(fn) -> dict:
    try:
        return {"value": fn()}
    except Exception as exc:  # the test compares the error's type and message
        return {"error": type(exc).__name__, "message": str(exc)}


def run_plan(device, plan: dict) -> dict:
    """Run every case of `plan` on an open host Device; returns JSON-able results."""
    res: dict = {"info": device.info().fingerprint, "cases": {}}
    for case in plan["cases"]:
        t0 = time.monotonic()
        res["cases"][case["name"]] = _attempt(
            lambda: device.generate_ids(case["prompt"], case["max_new"], **case["kw"]))
        res["cases"][case["name"]]["seconds"] = time.monotonic() - t0
    first = plan["cases"][0]
    # the prompt-too-long refusal names the limit and touches nothing
    res["too_long"] = _attempt(lambda: device.generate_ids([1] * (plan["context"] + 1), 2))
    res["after_refusal"] = _attempt(lambda: device.generate_ids(first["prompt"], first["max_new"]))
    # stopping early leaves the device usable
    gen = device.generate(first["prompt"], first["max_new"])
    next(gen)
    gen.close()
    res["after_abort"] = _attempt(lambda: device.generate_ids(first["prompt"], first["max_new"]))
    if plan.get("lora"):
        res["lora"] = _attempt(lambda: (device.load_lora(_load_lora(plan["lora"])),
                                        device.generate_ids(first["prompt"], first["max_new"]))[1])
        res["lora_cleared"] = _attempt(lambda: (device.clear_lora(),
                                                device.generate_ids(first["prompt"], first["max_new"]))[1])
    if device.streams > 1:
        res["streams"] = _attempt(lambda: _interleaved(device, plan))
    res["stats"] = device.transport.stats()
    return res


def _interleaved(device, plan: dict) -> dict:
    """The plan's stream cases as generations on streams of their own, advanced in turns by one
    thread (the transports' own threads stay out of it): {case name: token ids}."""
    spec, cases = plan["streams"], {c["name"]: c for c in plan["cases"]}
    streams = {name: device.open_stream(chunk=spec["chunk"]) for name in spec["cases"]}
    gens = {name: streams[name].generate(cases[name]["prompt"], cases[name]["max_new"], **cases[name]["kw"])
            for name in spec["cases"]}
    out: dict = {name: [] for name in gens}
    while gens:
        for name in list(gens):
            for _ in range(spec["chunk"]):      # a whole chunk: its last token frees the device
                try:
                    out[name].append(next(gens[name]).id)
                except StopIteration:
                    del gens[name]
                    streams[name].close()
                    break
    return out
