"""The results of a sweep (hw/sweep.py): a table (CSV and markdown) and Pareto plots (PNG).

Each point's figures come from its best stage: resources from place and route
where it ran, else the fit check's calibrated estimate; cycles per token from
the Verilator measurement where it ran, else the estimate (mean over the
context); tokens/s at the routed Fmax where place and route ran, else at the
board's design clock. The columns `resources_from` and `speed_from` say which.
A point is on the Pareto front of a resource when it fits its board and no other
such point is at least as fast with at most as much of it (one of the two
strictly). Block RAM is compared in kbit (an iCE40 block holds 4 kbit, an ECP5
or Xilinx block 18).
"""
from __future__ import annotations

import csv
from pathlib import Path

# plotted resources: block RAM in kbit, as an iCE40 block holds 4 kbit and an ECP5 / Xilinx one 18
RESOURCES = (("luts", "LUTs (LUT4; Zynq: LUT6)"), ("bram_kbit", "block RAM (kbit)"), ("dsps", "multipliers (DSP)"))
COLUMNS = ("id", "board", "bits", "lanes", "vpl", "engines", "seed", "chips", "fits", "luts", "ffs", "brams", "bram_kbit",
           "dsps", "resources_from", "cycles_per_token", "cycles_from", "clock_mhz", "fmax_mhz", "tokens_per_s",
           "speed_from", "sim_bit_exact", "rom_bits", "error")


def row(rec: dict) -> dict:
    """The table row of one point record."""
    p, st = rec["point"], rec.get("stages", {})
    r = {k: None for k in COLUMNS}
    r.update(id=rec["id"], board=p["board"], bits=p["bits"] or "", lanes=p["lanes"], vpl=p["vpl"],
             engines=p["engines"], seed=p["seed"], chips=p.get("chips", 1))
    est = st.get("estimate")
    if est:
        r.update(fits=est["fits"], resources_from="estimate", cycles_per_token=est["speed"]["cycles_mean"],
                 cycles_from="estimate", clock_mhz=est["clock_mhz"], rom_bits=est["rom_bits"],
                 **{k: est["needs"][k]["need"] for k in ("luts", "ffs", "brams", "dsps")})
        if est.get("chips", 1) > 1:     # a chain: the largest chip's needs, every chip fits or not
            r["resources_from"] = f"estimate (largest of {est['chips']} chips)"
    sim = st.get("sim")
    if sim and "skipped" not in sim:
        r.update(cycles_per_token=sim["mean_cycles"], cycles_from=f"sim ({sim['tokens']} tokens)",
                 sim_bit_exact=sim["matches_golden"])
    pnr = st.get("pnr")
    if pnr and "skipped" not in pnr:
        r.update(resources_from="place and route", fmax_mhz=pnr["fmax_mhz"],
                 **{k: v["used"] for k, v in pnr["utilisation"].items() if k in ("luts", "ffs", "brams", "dsps")})
        if pnr.get("chips"):            # a chain: the largest chip's use, the slowest chip's Fmax
            r["resources_from"] = f"place and route (largest of {len(pnr['chips'])} chips)"
    if r["brams"] is not None and est:
        r["bram_kbit"] = r["brams"] * est["bram_kbits"]
    if r["cycles_per_token"]:
        mhz = r["fmax_mhz"] or r["clock_mhz"]
        r["tokens_per_s"] = round(mhz * 1e6 / r["cycles_per_token"], 1)
        r["speed_from"] = f"{r['cycles_from']} at {'Fmax' if r['fmax_mhz'] else 'design clock'}"
    if rec.get("error"):
        r["error"] = f"{rec['error']['stage']}: {rec['error']['message'].splitlines()[0]}"
    return r


def pareto(rows: list[dict], resource: str) -> set[str]:
    """Ids of the rows on the front: no other row is as fast with as little `resource` (one strictly).
    Only points that fit their board compete."""
    pts = [(r["id"], r[resource], r["tokens_per_s"]) for r in rows
           if r[resource] is not None and r["tokens_per_s"] and r["fits"] and not r["error"]]
    return {i for i, x, y in pts
            if not any(x2 <= x and y2 >= y and (x2 < x or y2 > y) for _, x2, y2 in pts)}


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return path


def markdown(rows: list[dict]) -> str:
    fronts = {res: pareto(rows, res) for res, _ in RESOURCES}
    head = ("| point | board | bits | lanes x vpl | engines | seed | fits | LUT4 | BRAM | DSP | resources from | "
            "cycles/token | tok/s | speed from | Pareto | error |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [head]
    num = lambda v: "-" if v is None else f"{v:,.0f}"
    for r in rows:
        front = ", ".join(label for res, label in (("luts", "LUT"), ("bram_kbit", "BRAM"), ("dsps", "DSP"))
                          if r["id"] in fronts[res])
        exact = " (not bit-exact)" if r["sim_bit_exact"] is False else ""
        chips = f" over {r['chips']} chips" if (r["chips"] or 1) > 1 else ""
        lines.append(f"| {r['id']} | {r['board']} | {r['bits'] or '-'} | {r['lanes']} x {r['vpl']}{chips} | {r['engines']} | "
                     f"{r['seed']} | {'-' if r['fits'] is None else 'yes' if r['fits'] else 'no'} | "
                     f"{num(r['luts'])} | {num(r['brams'])} | {num(r['dsps'])} | {r['resources_from'] or '-'} | "
                     f"{num(r['cycles_per_token'])} | {num(r['tokens_per_s'])} | {(r['speed_from'] or '-') + exact} | "
                     f"{front or '-'} | {r['error'] or ''} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> Path:
    """tokens/s against LUT, block RAM and multipliers, one panel each, the front drawn as steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boards = sorted({r["board"] for r in rows})
    colors = {b: f"C{i % 10}" for i, b in enumerate(boards)}
    markers = {"estimate": "o", "sim": "s", "place and route": "^"}
    fig, axes = plt.subplots(1, len(RESOURCES), figsize=(5 * len(RESOURCES), 4.2), squeeze=False)
    for ax, (res, label) in zip(axes[0], RESOURCES):
        ok = [r for r in rows if r[res] is not None and r["tokens_per_s"] and not r["error"]]
        for r in ok:
            src = "place and route" if r["fmax_mhz"] else "sim" if r["cycles_from"] != "estimate" else "estimate"
            ax.scatter(r[res], r["tokens_per_s"], color=colors[r["board"]], marker=markers[src],
                       alpha=0.9 if r["fits"] else 0.35)
        front = sorted((r[res], r["tokens_per_s"]) for r in ok if r["id"] in pareto(rows, res))
        if front:
            ax.step(*zip(*front), where="post", color="k", lw=1, label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("tokens/s")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[b], marker="o", ls="", label=b) for b in boards]
    handles += [plt.Line2D([], [], color="gray", marker=m, ls="", label=f"from {s}") for s, m in markers.items()]
    handles += [plt.Line2D([], [], color="k", lw=1, label="Pareto front")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8)
    fig.suptitle("hardwire sweep: tokens/s against resources (faint: does not fit its board)")
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(records: list[dict], out: Path) -> list[Path]:
    """OUT/results.csv, results.md and pareto.png (when any point has a speed)."""
    rows = [row(r) for r in records]
    out = Path(out)
    files = [write_csv(rows, out / "results.csv")]
    (out / "results.md").write_text(markdown(rows))
    files.append(out / "results.md")
    if any(r["tokens_per_s"] for r in rows):
        files.append(plot(rows, out / "pareto.png"))
    return files
