"""A circuit spec for a reader: a text summary (`summary`) and a wiring diagram (`draw`).

The diagram draws regions as boxes holding their populations, in columns by their distance (in
projections) from the observation, the actor readout on the right. Excitatory projections end in an
arrowhead, inhibitory ones in a bar (the anatomist's convention); unsigned (dense/lstm) ones are grey;
a line's width follows the projection's gain; a label gives a density below 1 and a delay in control
steps. A population's projection onto itself is marked with a loop sign beside its name.
"""

from __future__ import annotations

from pathlib import Path

SIGN_TEXT = {1: "E", -1: "I", 0: "-"}
COLOURS = {1: "#c0392b", -1: "#2563a8", 0: "#555555"}


def summary(circuit) -> str:
    """Populations, projections with signs and densities, readout and parameter count, as text."""
    spec = circuit.spec
    lines = [f"circuit {spec.name} ({spec.family} family): {circuit.num_parameters():,} trainable parameters "
             f"at obs {circuit.obs_dim}, act {circuit.act_dim}"]
    if spec.description:
        lines.append(f"  {spec.description}")
    lines += ["", "populations"]
    lines.append(f"  {'name':<12}{'model':<7}{'size':>6}  {'sign':<5}{'region':<14}{'cell type':<18}options")
    for p in spec.populations:
        opts = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.options.items())
        lines.append(f"  {p.name:<12}{p.model:<7}{p.size:>6}  {SIGN_TEXT[p.sign]:<5}{p.region:<14}{p.cell_type:<18}{opts}")
    lines += ["", "projections (sign: the presynaptic population's)"]
    lines.append(f"  {'name':<16}{'pre -> post':<24}{'sign':<6}{'gain':>6}{'density':>9}  {'mask':<11}{'delay':>6}")
    da = spec.dopamine_projections
    for x in spec.projections:
        sign = "+" if spec.sign_of(x.pre) > 0 else "-" if spec.sign_of(x.pre) < 0 else "."
        extra = f"  dopamine x(1 {'+' if da[x.name] >= 0 else '-'} {abs(da[x.name]):g} level)" if x.name in da else ""
        lines.append(f"  {x.name:<16}{x.pre + ' -> ' + x.post:<24}{sign:<6}{x.gain:>6g}{x.density:>9g}  "
                     f"{x.mask:<11}{x.delay:>6}{extra}")
    lines += ["", f"readout (actor): {', '.join(spec.readout)}  ({circuit.actor_dim} units)",
              f"critic sees: observation + {', '.join(spec.critic or spec.readout)}  ({circuit.critic_dim} units)"]
    if spec.dopamine_projections:
        lines.append(f"dopamine level: {spec.dopamine_level:g}")
    if spec.family != "deep":
        lines.append(f"dynamics: {', '.join(f'{k}={v}' for k, v in spec.dynamics.items())}")
        lines.append(f"relay: {', '.join(f'{k}={v}' for k, v in spec.relay.items())}")
    return "\n".join(lines)


def _layout(spec) -> tuple[dict, dict]:
    """(column of each region, regions -> populations), columns by distance from obs."""
    depth = {"obs": 0}
    frontier = ["obs"]
    while frontier:
        nxt = []
        for node in frontier:
            for x in spec.projections:
                if x.pre == node and x.post not in depth:
                    depth[x.post] = depth[node] + 1
                    nxt.append(x.post)
        frontier = nxt
    regions: dict[str, list[str]] = {}
    for p in spec.populations:
        key = p.region if p.region != "none" else p.name
        regions.setdefault(key, []).append(p.name)
    column = {r: min(depth.get(p, 1) for p in pops) for r, pops in regions.items()}
    return column, regions


def draw(circuit, path: str | Path) -> Path:
    """The wiring diagram as a PNG at `path` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from training.files import atomic_write_bytes

    spec = circuit.spec
    column, regions = _layout(spec)
    n_cols = max(column.values()) + 2  # obs at 0, regions, then the actor
    by_col: dict[int, list[str]] = {}
    for r in regions:
        by_col.setdefault(column[r], []).append(r)
    pos: dict[str, tuple[float, float]] = {}
    boxes = []
    col_height = max(sum(len(regions[r]) + 0.6 for r in rs) for rs in by_col.values())
    for c, rs in by_col.items():
        y = col_height / 2
        for r in rs:
            h = len(regions[r])
            boxes.append((r, c * 3.0 - 1.0, y - h - 0.15, 2.0, h + 0.1))
            for i, p in enumerate(regions[r]):
                pos[p] = (c * 3.0, y - i - 0.5)
            y -= h + 0.6
    pos["obs"] = (0.0, 0.0)
    pos["actor"] = ((n_cols - 1) * 3.0 + 1.0, 0.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * n_cols + 1), max(3.5, 0.75 * col_height + 1.5)))
    for r, x0, y0, w, h in boxes:
        ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0.05", fc="#f3f3f3", ec="#999999", lw=1))
        if r not in regions[r]:
            ax.text(x0 + 0.05, y0 + h + 0.05, r, fontsize=8, color="#666666", va="bottom")
    self_loops = {x.pre for x in spec.projections if x.pre == x.post}
    for p in spec.populations:
        x, y = pos[p.name]
        label = f"{p.name}{' ↻' if p.name in self_loops else ''}\n{p.model} {p.size}"
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.25", fc="white", ec=COLOURS[p.sign], lw=1.5))
    for node, text in (("obs", "observation"), ("actor", "actor head")):
        ax.text(*pos[node], text, ha="center", va="center", fontsize=9, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.3", fc="#fffbe6", ec="#b08900"))
    edges = [(x.pre, x.post, spec.sign_of(x.pre), x.gain, x) for x in spec.projections if x.pre != x.post]
    edges += [(p, "actor", 0, 1.0, None) for p in spec.readout]
    for pre, post, sign, gain, x in edges:
        (x0, y0), (x1, y1) = pos[pre], pos[post]
        if x1 > x0:  # forward: right side to left side
            a, b, rad = (x0 + 0.45, y0), (x1 - 0.45, y1), 0.06
        elif x1 == x0:  # within a column: around the left
            a, b, rad = (x0 - 0.45, y0), (x1 - 0.45, y1), 0.6 if y1 < y0 else -0.6
        else:  # backward: over the top
            a, b, rad = (x0, y0 + 0.3), (x1, y1 + 0.3), 0.3
        style = "-[,widthB=0.45,lengthB=0.0" if sign < 0 else "-|>,head_length=0.55,head_width=0.3"
        arrow = FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, connectionstyle=f"arc3,rad={rad}",
                                lw=0.6 + 1.0 * min(gain, 2.0), color=COLOURS[sign] if x is not None else "#b08900",
                                alpha=0.8, shrinkA=3, shrinkB=3)
        ax.add_patch(arrow)
        if x is not None and (x.density < 1 or x.delay or x.mask != "all"):
            tag = ", ".join(t for t in (f"p={x.density:g}" if x.density < 1 else "", f"d={x.delay}" if x.delay else "",
                                        x.mask if x.mask != "all" else "") if t)
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.15, tag, fontsize=6, ha="center", color=COLOURS[sign])
    xs = [v[0] for v in pos.values()]
    ys = [v[1] for v in pos.values()]
    ax.set_xlim(min(xs) - 1.5, max(xs) + 1.5)
    ax.set_ylim(min(ys) - 1.2, max(ys) + 1.2 + 0.12 * (max(xs) - min(xs)))  # room for the arcs back
    ax.set_axis_off()
    ax.set_title(f"{spec.name}: {circuit.num_parameters():,} parameters   "
                 "(red arrow: excitatory, blue bar: inhibitory, grey: unsigned)", fontsize=9)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
