"""`windtunnel compare`: score trained runs (and real recordings) on every benchmark, compare their
representations, and write one self-contained HTML report plus ``scores.json``.

    compare(runs=[...], subjects=[user.nwb, ...], out_dir=..., episodes=10)

Each run is recorded on its own (canonical) task: deterministically for the activity and
behaviour, and, on the lever task, once more with the policy's own noise for the variability
benchmark. Its lesion results (``<run_dir>/lesions``) are read. Runs are grouped into models by
circuit and task, so several seeds of one circuit give one score with a confidence interval.

Cross-circuit similarity: for every pair of subjects recorded on the same task, linear CKA and
Procrustes similarity between their event-aligned trial-averaged activity ([time bins, units] on
a common 20 ms grid around the task's alignment event). A user's NWB recording enters the same
matrices when it has that event.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from comparisons import benchmarks as bm  # noqa: E402
from comparisons import reference  # noqa: E402
from comparisons.analyses import behaviour, similarity, timescales  # noqa: E402

ALIGN_EVENTS = ("trial_start", "reach_onset", "press", "food_collected")
PSTH_OFFSETS_S = np.round(np.arange(-0.2, 0.8, 0.02), 6)  # the common grid around the alignment event
SECTIONS = ("What each circuit reproduces", "Circuits x benchmarks", "Each benchmark: circuits beside the rodent range", "Learning curves",
            "Kawai et al. 2015: motor-cortex lesions", "Benchmark scores", "Inter-press intervals", "Representational similarity", "Timescales by population",
            "Lesion experiments", "Open-field speed")


# ------------------------------------------------------------------------------ subjects
def subject_from_run(run_dir: str | Path, episodes: int = 10, seed: int = 2000, progress: bool = False,
                     tag: str | None = None) -> bm.Subject:
    """A run (or zoo entry) recorded and ready to score; `tag` keeps it apart from same-named models
    (`<circuit>/<task> [tag]`), e.g. a freshly trained circuit beside a shipped study's."""
    from comparisons.lesion import load_lesions
    from comparisons.recording import record
    from training.run import Run

    run = Run(run_dir)
    # scored trials must be independent: the policy's own noise (motor variability) on, episode k seeded
    # seed + k; a deterministic policy on a deterministic task repeats one trial
    rec = record(run, episodes=episodes, seed=seed, checkpoint="best", deterministic=False, progress=progress)
    prov = rec.provenance
    task, circuit = prov["task"], prov["circuit"]
    noisy = rec
    trajectory = None
    if "head_pos_m" in rec.kinematics:
        trajectory = [_episode_trajectory(rec, i) for i in range(rec.n_trials)]
    model = f"{circuit}/{task}" + (f" [{tag}]" if tag else "")
    return bm.Subject(name=f"{model}/seed{prov['training_seed']}", model=model, task=task,
                      recording=rec,
                      stochastic_recording=noisy, trajectory=trajectory,
                      lesions=load_lesions(run.out_dir) or load_lesions(run.path),  # a zoo entry ships its own
                      curve=run.learning_curve(),
                      circuit=circuit)


def learning_curves(subjects: list[bm.Subject]) -> dict:
    """model -> [(env_steps, training criterion), per seed] from the runs' metrics.csv (or a zoo manifest's
    curve)."""
    out: dict = {}
    for s in subjects:
        if s.curve is not None:
            out.setdefault(s.model, []).append(s.curve)
    return out


def _criterion(task: str) -> str:
    import tasks

    return tasks.task_class(task).criterion


def _episode_trajectory(rec, i: int):
    n = int(rec.trial_lengths[i])
    return np.arange(n) * rec.dt_s, rec.kinematics["head_pos_m"][i, :n, :2]


def subject_from_nwb(path: str | Path) -> bm.Subject:
    from comparisons.nwb import read_nwb

    rec = read_nwb(path)
    name = Path(path).stem
    return bm.Subject(name=f"subject:{name}", model=f"subject:{name}", task=rec.provenance.get("task"), recording=rec)


# ---------------------------------------------------------------------------- similarity
def aligned_average(rec, event: str, offsets_s=PSTH_OFFSETS_S) -> np.ndarray | None:
    """Activity averaged over every occurrence of `event` (all trials of every episode) at event + offsets
    (nearest bin), [len(offsets), units]; occurrences whose window leaves the episode are skipped; None if
    none fits."""
    rows = []
    for i, times in enumerate(rec.event_times(event)):
        for t in times:
            idx = np.round((t + offsets_s) / rec.dt_s).astype(int)
            if idx[0] >= 0 and idx[-1] < rec.trial_lengths[i]:
                rows.append(rec.activity[i, idx])
    if not rows:
        return None
    return np.nanmean(np.array(rows), axis=0)


def similarity_matrices(subjects: list[bm.Subject]) -> dict:
    """Per task: subject names and the CKA and Procrustes matrices of their event-aligned averages."""
    out = {}
    tasks_seen = sorted({s.task for s in subjects if s.task and s.recording is not None and not s.model.startswith("subject:")})
    for task in tasks_seen:
        group = [s for s in subjects if s.recording is not None and (s.task == task or s.model.startswith("subject:"))]
        names_in = {n for s in group for trial in s.recording.events for n, _ in trial}
        event = next((e for e in ALIGN_EVENTS if all(
            any(n == e for trial in s.recording.events for n, _ in trial) for s in group if s.task == task)), "episode_start")
        offsets = PSTH_OFFSETS_S - PSTH_OFFSETS_S[0] if event == "episode_start" else PSTH_OFFSETS_S
        mats, kept = [], []
        for s in group:
            m = aligned_average(s.recording, event, offsets)
            if m is not None and np.isfinite(m).all() and m.std() > 0:
                mats.append(m)
                kept.append(s.name)
        n = len(kept)
        cka, dcka, proc = np.eye(n), np.eye(n), np.eye(n)
        null_mean, null_p95 = np.full((n, n), np.nan), np.full((n, n), np.nan)
        for i in range(n):
            for j in range(i + 1, n):
                cka[i, j] = cka[j, i] = similarity.linear_cka(mats[i], mats[j])
                dcka[i, j] = dcka[j, i] = similarity.debiased_cka(mats[i], mats[j])
                proc[i, j] = proc[j, i] = similarity.procrustes_similarity(mats[i], mats[j])
                null = similarity.cka_null(mats[i], mats[j], surrogates=30)
                null_mean[i, j] = null_mean[j, i] = null["mean"]
                null_p95[i, j] = null_p95[j, i] = null["p95"]
        model = {s.name: s.model for s in group}
        ceiling = [float(dcka[i, j]) for i in range(n) for j in range(i + 1, n) if model[kept[i]] == model[kept[j]]]
        out[task] = {"event": event, "window_s": [float(offsets[0]), float(offsets[-1])],
                     "subjects": kept, "cka": cka.tolist(), "cka_debiased": dcka.tolist(),
                     "cka_null_mean": null_mean.tolist(), "cka_null_p95": null_p95.tolist(),
                     "within_architecture_ceiling": ceiling, "procrustes": proc.tolist(),
                     "events_available": sorted(names_in)}
    return out


# ------------------------------------------------------------------------------- figures
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def ipi_figure(subjects: list[bm.Subject]) -> str | None:
    lever = [s for s in subjects if s.task == "lever_timing" and s.recording is not None]
    if not lever:
        return None
    lo, hi = reference.value_range("kawai2015.target_ipi")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.axvspan(lo, hi, color="tab:green", alpha=0.15, label=f"rodent range ({reference.cite('kawai2015.target_ipi').split(',')[0]})")
    bins = np.arange(0, 1.6, 0.025)
    for model in sorted({s.model for s in lever}):
        ipis = np.concatenate([behaviour.ipis_from_events(s.recording.events) for s in lever if s.model == model])
        if len(ipis):
            ax.hist(ipis, bins=bins, histtype="step", lw=1.5, label=f"{model} (n={len(ipis)})")
    ax.set_xlabel("inter-press interval (s)")
    ax.set_ylabel("trials")
    ax.legend(fontsize=8)
    return _png(fig)


def similarity_table(sim: dict) -> str:
    """Every pair's debiased CKA beside its chance level (phase-randomised surrogates) and the
    within-architecture ceiling (two seeds of one circuit)."""
    names, rows = sim["subjects"], []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            d, m, p = sim["cka_debiased"][i][j], sim["cka_null_mean"][i][j], sim["cka_null_p95"][i][j]
            rows.append([names[i], names[j], _fmt(sim["cka"][i][j], 2), _fmt(d, 2), f"{_fmt(m, 2)} / {_fmt(p, 2)}",
                         "above chance" if d > p else "at chance"])
    ceiling = sim["within_architecture_ceiling"]
    head = ["subject", "subject", "linear CKA (biased)", "debiased CKA", "chance: mean / 95th pct", "reading"]
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>"
            + "<p>Within-architecture ceiling (debiased CKA between seeds of one circuit): "
            + (", ".join(_fmt(c, 2) for c in ceiling) if ceiling else "no circuit with two seeds here")
            + ". Chance comes from phase-randomised surrogates (same spectra and shapes, no relation in time). With "
            "smooth trial averages and many units, CKA over time is high for any two populations of similar "
            "smoothness (independent smooth signals reach ~0.99; their surrogates ~0.8-0.9): read a value against "
            "its chance level and the ceiling, not against 0.</p>")


def similarity_figure(task: str, sim: dict) -> str | None:
    n = len(sim["subjects"])
    if n < 2:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(6 + 1.2 * n, 3 + 0.45 * n), layout="constrained")
    for ax, key in zip(axes, ("cka_debiased", "procrustes")):
        mat = np.array(sim[key])
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="k" if mat[i, j] > 0.6 else "w")
        ax.set_xticks(range(n), sim["subjects"], rotation=50, ha="right", fontsize=7)
        ax.set_yticks(range(n), sim["subjects"], fontsize=7)
        ax.set_title("debiased linear CKA" if key == "cka_debiased" else "Procrustes similarity", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.7)
    fig.suptitle(f"{task}: activity averaged around {sim['event']} "
                 f"({sim['window_s'][0]:+.1f} to {sim['window_s'][1]:+.1f} s)", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def timescale_figure(subjects: list[bm.Subject]) -> tuple[str | None, dict, list[str]]:
    """Box plots of unit timescales by population; also the populations with no fittable timescale."""
    data: dict[str, list[float]] = {}
    for s in subjects:
        if s.recording is None:
            continue
        for pop in s.recording.populations():
            taus = timescales.unit_timescales(s.recording.select(pop), max_lag_s=0.5)
            data.setdefault(f"{s.model}:{pop}", []).extend(taus[np.isfinite(taus)].tolist())
    missing = [k for k, v in data.items() if not v]
    data = {k: v for k, v in data.items() if v}
    if not data:
        return None, {}, missing
    lo, hi = reference.value_range("murray2014.intrinsic_timescale")
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(data) + 2), 3.6))
    ax.axhspan(lo * 1e3, hi * 1e3, color="tab:green", alpha=0.15, label="primate cortex (Murray et al. 2014)")
    ax.boxplot([np.array(v) * 1e3 for v in data.values()], showfliers=False)
    ax.set_xticks(range(1, len(data) + 1), list(data), rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("intrinsic timescale (ms)")
    ax.legend(fontsize=8)
    return _png(fig), {k: float(np.median(v)) for k, v in data.items()}, missing


def open_field_figure(subjects: list[bm.Subject], rat: dict) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(0, 0.5, 51)
    ax.hist(rat["speed_m_s"], bins=bins, density=True, histtype="stepfilled", alpha=0.35, color="k",
            label=f"real rat, Sargolini et al. 2006 (median {rat['speed_median_m_s'] * 100:.1f} cm/s)")
    for model in sorted({s.model for s in subjects if s.trajectory}):
        speeds = np.concatenate([behaviour.locomotion_statistics(t, p, smoothing_s=0.1)["speed_m_s"]
                                 for s in subjects if s.model == model and s.trajectory for t, p in s.trajectory])
        ax.hist(speeds, bins=bins, density=True, histtype="step", lw=1.5,
                label=f"{model} (median {np.median(speeds) * 100:.1f} cm/s)")
    ax.set_xlabel("head speed (m/s), Gaussian smoothing SD 0.1 s")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return _png(fig)


# -------------------------------------------------------------------------------- report
def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def _range(r) -> str:
    lo, hi = r
    return f"[{_fmt(lo if math.isfinite(lo) else None)}, {_fmt(hi if math.isfinite(hi) else None)}]"


def _note(value) -> str:
    """A measurement's flags and counts, short: 'fano_before 0.178, fano_after 0.175, trials 110'."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_note(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "/".join(_note(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def verdict_word(s: bm.Score) -> str:
    if not s.applicable:
        return "n/a"
    return "construction check" if s.construction_check else (s.verdict or "–")


def score_table(scores: list[bm.Score]) -> str:
    rows = []
    for s in scores:
        if s.applicable:
            ci = f" ({_fmt(s.ci95[0])}–{_fmt(s.ci95[1])})" if math.isfinite(s.ci95[0]) else " (no interval: n < 2)"
            notes = "; ".join(f"{k.rsplit('/', 1)[-1]}: {_note(v)}" for k, v in s.notes.items())
            cells = [s.benchmark, s.model, f"{_fmt(s.value)}{ci}", str(s.n), _fmt(s.rodent_value),
                     _range(s.rodent_range), s.species, s.units, _fmt(s.score, 2), verdict_word(s), notes]
        else:
            cells = [s.benchmark, s.model, f"not applicable: {s.reason}", "0", _fmt(s.rodent_value),
                     _range(s.rodent_range), s.species, s.units, "–", "n/a", ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = ["benchmark", "model", "value (95 % CI over seeds)", "n (seeds)", "reference value", "reference range",
            "species", "units", "score", "verdict", "what the measurement flagged"]
    defs = "".join(f"<li><b>{html.escape(b)}</b>: {html.escape(bm.get(b).definition)}. Reference: "
                   f"{html.escape(reference.cite(bm.get(b).reference))}; range: "
                   f"{html.escape(bm.rodent_value_and_range(bm.get(b).reference)[2])}</li>"
                   for b in sorted({s.benchmark for s in scores}))
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
            "<p>Verdicts: <b>consistent</b> (the mean inside the reference range, its 95 % interval inside or "
            "overlapping it), <b>inconsistent</b> (the interval outside the range), <b>inconclusive</b> (fewer than "
            f"{bm.MIN_SEEDS} seeds, an interval wider than the range, or a mean outside an interval that overlaps "
            "it). A construction check is a property the circuit is built with, reported without a verdict. "
            f"Normalised score (for sorting): {html.escape(bm.normalised_score.__doc__ or '')}</p><ul>{defs}</ul>")


def score_matrix(scores: list[bm.Score]) -> str:
    """One row per model (circuit on a task, seeds pooled), one column per benchmark: value with its 95 %
    interval over seeds, n, and the verdict (or n/a with the reason on hover)."""
    models = list(dict.fromkeys(s.model for s in scores))
    benches = list(dict.fromkeys(s.benchmark for s in scores))
    by = {(s.model, s.benchmark): s for s in scores}
    colours = {"consistent": "#d9f2d9", "inconsistent": "#f8d7d7", "inconclusive": "#fff3cd"}
    rows = []
    for m in models:
        cells = [f"<td><b>{html.escape(m)}</b></td>"]
        for b in benches:
            s = by.get((m, b))
            if s is None or not s.applicable:
                why = html.escape(s.reason if s is not None else "not scored")
                cells.append(f"<td title='{why}' style='color:#999'>n/a</td>")
                continue
            ci = f" [{_fmt(s.ci95[0])}, {_fmt(s.ci95[1])}]" if math.isfinite(s.ci95[0]) else ""
            word = verdict_word(s)
            cells.append(f"<td style='background:{colours.get(word, '#fff')}'>{_fmt(s.value)}{ci}<br>"
                         f"<small>n={s.n} · {html.escape(word)}</small></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{html.escape(b)}<br><small>{html.escape(by_b.units)} vs {html.escape(by_b.species or '?')}"
                   f"</small></th>" for b in benches for by_b in [next(s for s in scores if s.benchmark == b)])
    return (f"<div style='overflow-x:auto'><table class='matrix'><tr><th>model (circuit/task)</th>{head}</tr>"
            f"{''.join(rows)}</table></div>"
            "<p>Cell: mean over seeds [95 % interval], n seeds, verdict against the rodent reference range "
            "(green consistent, red inconsistent, yellow inconclusive; hover n/a for why a benchmark does not "
            "apply). Details and references in the next table.</p>")


def spread_labels(models: list[str]) -> list[str]:
    """A panel's x labels: the circuit alone when every model of the panel ran the same task (the title names
    it), 'circuit (task)' when a benchmark pools models of several tasks."""
    on = {m.split("/", 1)[1] for m in models if "/" in m}
    if len(on) <= 1:
        return [m.split("/")[0] for m in models]
    return [f"{m.split('/', 1)[0]} ({m.split('/', 1)[1]})" if "/" in m else m for m in models]


def spread_figure(scores: list[bm.Score]) -> str | None:
    """One panel per applicable benchmark: each model's seeds (dots), mean and 95 % interval (bar), and the
    rodent reference range (band)."""
    benches = [b for b in dict.fromkeys(s.benchmark for s in scores)
               if any(s.benchmark == b and s.applicable for s in scores)]
    if not benches:
        return None
    cols = min(3, len(benches))
    rows_n = math.ceil(len(benches) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 2.9 * rows_n), squeeze=False)
    for ax, b in zip(axes.flat, benches):
        mine = [s for s in scores if s.benchmark == b and s.applicable]
        lo, hi = mine[0].rodent_range
        if math.isfinite(lo) or math.isfinite(hi):
            ax.axhspan(lo if math.isfinite(lo) else ax.get_ylim()[0], hi if math.isfinite(hi) else ax.get_ylim()[1],
                       color="tab:green", alpha=0.15, label=f"rodent range ({mine[0].species or '?'})")
        for i, sc in enumerate(mine):
            vals = [v for v in sc.per_subject.values() if isinstance(v, (int, float)) and math.isfinite(v)]
            ax.plot([i] * len(vals), vals, "o", color="0.35", ms=4, alpha=0.8)
            if math.isfinite(sc.value):
                err = None
                if math.isfinite(sc.ci95[0]):
                    err = [[sc.value - sc.ci95[0]], [sc.ci95[1] - sc.value]]
                ax.errorbar([i + 0.15], [sc.value], yerr=err, fmt="s", color="tab:blue", capsize=3, ms=5)
        ax.set_xticks(range(len(mine)))
        ax.set_xticklabels(spread_labels([sc.model for sc in mine]), rotation=35, ha="right", fontsize=7)
        on = sorted({m.split("/", 1)[1] for m in (sc.model for sc in mine) if "/" in m})
        ax.set_title(f"{b} ({on[0]})" if len(on) == 1 else b, fontsize=8)
        ax.set_ylabel(mine[0].units, fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(benches):]:
        ax.set_axis_off()
    fig.tight_layout()
    return _png(fig)


def learning_figure(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], criterion: dict[str, str]) -> str | None:
    """Per task, each model's median learning curve over seeds with the seeds' range as a band.
    `curves`: model ('circuit/task') -> [(env_steps, criterion metric), one per seed]."""
    tasks_ = sorted({m.split("/")[-1] for m in curves})
    if not tasks_:
        return None
    fig, axes = plt.subplots(1, len(tasks_), figsize=(5.2 * len(tasks_), 3.2), squeeze=False)
    for ax, task in zip(axes.flat, tasks_):
        for model in sorted(m for m in curves if m.endswith("/" + task)):
            seeds = [c for c in curves[model] if len(c[0])]
            if not seeds:
                continue
            grid = np.linspace(0, min(c[0][-1] for c in seeds), 60)
            ys = np.array([np.interp(grid, x, y) for x, y in seeds])
            line, = ax.plot(grid / 1e6, np.median(ys, axis=0), lw=1.4, label=f"{model.split('/')[0]} (n={len(seeds)})")
            ax.fill_between(grid / 1e6, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.18)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("environment steps (millions)", fontsize=8)
        ax.set_ylabel(f"{criterion.get(task, 'criterion')} (training)", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def kawai_points(subjects: list[bm.Subject]) -> list[dict]:
    """The dots of the Kawai figure, one per seed, lesion kind and measure ("criterion": the task's rewarded
    fraction; "ipi": the median IPI in s): intact and lesioned values, the lesioned one None with
    `lesioned_state` "no trial" when the lesioned circuit completed no trial (or no IPI) to measure, "not
    trained" when no path from the observation to the actor survives the lesion. A lesion that abolishes the
    press is the strongest impairment there is: it must show, not drop out as a missing value."""
    points = []
    for s in subjects:
        if s.task != "lever_timing":
            continue
        for r in s.lesions:
            for what in ("criterion", "ipi"):
                def value(cond):
                    v = cond["metrics"].get(r["criterion"]) if what == "criterion" else cond.get("ipi_median_s")
                    return v if v is not None and math.isfinite(v) else None
                lesioned, state = None, "not trained"
                if r["lesioned"] is not None:
                    lesioned = value(r["lesioned"])
                    state = "measured" if lesioned is not None else "no trial"
                points.append({"model": s.model, "subject": s.name, "kind": r["kind"], "what": what,
                               "intact": value(r["intact"]), "lesioned": lesioned, "lesioned_state": state})
    return points


def kawai_figure(subjects: list[bm.Subject]) -> str | None:
    """Kawai et al. 2015's experiment per circuit: the task criterion and the median IPI, intact vs
    motor-cortex lesioned, after and before learning, each seed a dot, beside the rats' outcome. A lesioned
    circuit that completed no trial is a red x at the foot of the panel."""
    points = kawai_points(subjects)
    if not points:
        return None
    models = sorted({p["model"] for p in points})
    kinds = ("after_learning", "before_learning")
    fig, axes = plt.subplots(2, 2, figsize=(10, 5.6), squeeze=False)
    for col, kind in enumerate(kinds):
        for row, (what, label) in enumerate((("criterion", "rewarded fraction"), ("ipi", "median IPI (s)"))):
            ax = axes[row][col]
            no_trial = []  # x positions of lesioned seeds with no trial to measure
            for p in (p for p in points if p["kind"] == kind and p["what"] == what):
                i = models.index(p["model"])
                if p["intact"] is not None:
                    ax.plot([i - 0.15], [p["intact"]], "o", color="tab:blue", ms=4)
                if p["lesioned_state"] == "not trained":
                    ax.text(i + 0.15, 0.5, "no path: not trained", transform=ax.get_xaxis_transform(),
                            ha="center", va="center", fontsize=6, color="tab:red", rotation=90)
                elif p["lesioned_state"] == "no trial":
                    no_trial.append(i + 0.15)
                elif p["intact"] is not None:
                    ax.plot([i - 0.15, i + 0.15], [p["intact"], p["lesioned"]], "-", color="0.6", lw=0.8)
                    ax.plot([i + 0.15], [p["lesioned"]], "o", color="tab:red", ms=4)
                else:
                    ax.plot([i + 0.15], [p["lesioned"]], "o", color="tab:red", ms=4)
            if what == "ipi":
                lo, hi = reference.value_range("kawai2015.target_ipi")
                ax.axhspan(lo, hi, color="tab:green", alpha=0.15)
            if no_trial:  # a strip below the data, apart from any value: "no trial"
                lo, hi = ax.get_ylim()
                ax.set_ylim(lo - 0.14 * (hi - lo), hi)
                ax.axhline(lo - 0.03 * (hi - lo), color="0.75", lw=0.6, ls=":")
                ax.plot(no_trial, [lo - 0.09 * (hi - lo)] * len(no_trial), "x", color="tab:red", ms=6, mew=1.5)
                ax.text(-0.55, lo - 0.09 * (hi - lo), "no trial", fontsize=6, color="tab:red", va="center")
            ax.set_xticks(range(len(models)))
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_xticklabels([m.replace("/lever_timing", "") for m in models], rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=7)
            rats = {"after_learning": "rats: preserved", "before_learning": "rats: not acquired"}[kind]
            ax.set_title(f"{kind.replace('_', ' ')} (blue intact, red lesioned, x no trial; {rats})", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def lesion_table(subjects: list[bm.Subject]) -> str:
    rows = []
    for s in subjects:
        for r in s.lesions:
            i, l_ = r["intact"], r["lesioned"] or {"metrics": {}}
            rows.append([s.name, r["kind"].replace("_", " "), ", ".join(r["populations"]),
                         _fmt(i["metrics"].get(r["criterion"])), _fmt(l_["metrics"].get(r["criterion"])),
                         _fmt(i.get("ipi_median_s")), _fmt(l_.get("ipi_median_s")), str(r["outcome"]),
                         str(r["rodent_outcome"] or "–"), r["verdict"] + (f" ({r['note']})" if r.get("note") else "")])
    if not rows:
        return ("<p>No lesion experiments among these runs. Run <code>windtunnel lesion &lt;run_dir&gt; "
                "populations=[M1]</code> (after learning) or add <code>before_learning=true</code>.</p>")
    head = ["run", "lesion", "populations", "criterion intact", "criterion lesioned", "IPI median intact (s)",
            "IPI median lesioned (s)", "outcome", "rodent (Kawai et al. 2015)", "verdict"]
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def verdict_summary(scores: list[bm.Score], subjects: list[bm.Subject]) -> dict[str, dict[str, list[str]]]:
    """What each circuit reproduces: per circuit (its models on every task pooled), the benchmarks whose verdict
    is consistent ("reproduces"), inconsistent ("contradicts") or inconclusive, each named with its task, and
    each Kawai lesion with its seeds' verdicts counted ("lesion after learning (lever_timing): contradicts 3/3").
    Construction checks and benchmarks that do not apply are left out: they are no finding."""
    def split(model: str) -> tuple[str, str]:  # "lstm/lever_timing [demo]" -> ("lstm [demo]", "lever_timing")
        circuit, _, task = model.partition("/")
        task, bracket, tag = task.partition(" [")
        return circuit + (f" [{tag}" if bracket else ""), task

    out: dict[str, dict[str, list[str]]] = {}
    words = {"consistent": "reproduces", "inconsistent": "contradicts", "inconclusive": "inconclusive"}
    for s in scores:
        if not s.applicable or s.construction_check or s.verdict not in words:
            continue
        circuit, task = split(s.model)
        out.setdefault(circuit, {w: [] for w in words.values()})[words[s.verdict]].append(
            f"{s.benchmark} ({task or 'any task'}, n={s.n})")
    lesions: dict[tuple[str, str], list[str]] = {}
    for sub in subjects:
        for r in sub.lesions:
            lesions.setdefault((sub.model, r["kind"]), []).append(str(r["verdict"]))
    for (model, kind), verdicts in sorted(lesions.items()):
        circuit, task = split(model)
        d = out.setdefault(circuit, {w: [] for w in words.values()})
        counted = ", ".join(f"{v} {verdicts.count(v)}/{len(verdicts)}" for v in dict.fromkeys(verdicts))
        d.setdefault("lesions", []).append(f"Kawai lesion {kind.replace('_', ' ')} ({task}): {counted}")
    return out


def summary_line(findings: dict[str, list[str]]) -> str:
    """One circuit's findings of `verdict_summary` as one line of text."""
    parts = [f"{w}: {', '.join(findings[w])}" for w in ("reproduces", "contradicts", "inconclusive") if findings.get(w)]
    return "; ".join(parts + findings.get("lesions", [])) or "no scored finding"


def summary_markdown(summary: dict[str, dict[str, list[str]]]) -> str:
    return "".join(f"- **{circuit}**: {summary_line(d)}\n" for circuit, d in summary.items())


def results_markdown(scores: list[bm.Score], subjects: list[bm.Subject]) -> str:
    """The matrix and the Kawai outcomes as Markdown (a study's `results.md`, pasted into the docs' results
    page): per model, each benchmark's mean [95 % interval] over seeds, n and verdict; per circuit and lesion,
    the seeds' outcomes beside the rats'."""
    models = list(dict.fromkeys(s.model for s in scores))
    benches = [b for b in dict.fromkeys(s.benchmark for s in scores) if any(s.applicable for s in scores
                                                                              if s.benchmark == b)]
    by = {(s.model, s.benchmark): s for s in scores}
    lines = ["| model (circuit/task) | " + " | ".join(benches) + " |", "|---" * (len(benches) + 1) + "|"]
    for m in models:
        cells = []
        for b in benches:
            s = by.get((m, b))
            if s is None or not s.applicable:
                cells.append("n/a")
                continue
            ci = f" [{_fmt(s.ci95[0])}, {_fmt(s.ci95[1])}]" if math.isfinite(s.ci95[0]) else ""
            cells.append(f"{_fmt(s.value)}{ci}, n={s.n}, {verdict_word(s)}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    refs = [f"- **{b}** ({next(s for s in scores if s.benchmark == b).units}; "
            f"{next(s for s in scores if s.benchmark == b).species}): {bm.get(b).definition}. "
            f"{reference.cite(bm.get(b).reference)}; {bm.rodent_value_and_range(bm.get(b).reference)[2]}"
            for b in benches]
    out = "\n".join(lines) + "\n\n" + "\n".join(refs) + "\n"
    summary = verdict_summary(scores, subjects)
    if summary:
        out += "\nWhat each circuit reproduces (verdicts against the rodent ranges; construction checks left out):\n\n"
        out += summary_markdown(summary)
    rows = {}
    for s in subjects:
        for r in s.lesions:
            key = (s.model, r["kind"])
            rows.setdefault(key, {"outcomes": [], "verdicts": [], "rodent": r.get("rodent_outcome") or "–",
                                  "populations": ", ".join(r["populations"])})
            rows[key]["outcomes"].append(str(r["outcome"] or "no outcome"))
            rows[key]["verdicts"].append(str(r["verdict"]))
    if rows:
        out += ("\n| model | lesion | populations silenced | outcome per seed | rats (Kawai et al. 2015) | verdicts |\n"
                "|---|---|---|---|---|---|\n")
        for (m, kind), r in sorted(rows.items()):
            count = lambda xs: ", ".join(f"{x} {xs.count(x)}/{len(xs)}" for x in dict.fromkeys(xs))  # noqa: E731
            out += (f"| {m} | {kind.replace('_', ' ')} | {r['populations']} | {count(r['outcomes'])} | {r['rodent']} | "
                    f"{count(r['verdicts'])} |\n")
    return out


CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;"
       "font-size:13px}td,th{border:1px solid #bbb;padding:3px 6px}th{background:#eee}img{max-width:100%}"
       ".matrix{font-size:11px}.matrix td{white-space:nowrap}")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _record_one(args: tuple) -> bm.Subject:
    run, episodes, seed, tag = args
    return subject_from_run(run, episodes, seed, False, tag)


def record_subjects(runs, episodes: int, seed: int, tags: dict, jobs: int | None = None,
                    progress: bool = False) -> list[bm.Subject]:
    """`subject_from_run` for each run, in the order given, `jobs` processes at once (default: one per
    available core). Each recording is a function of its run, episodes and seed alone (one-environment
    rollouts run on one torch thread, episode k seeded seed + k), so the subjects are the same at any `jobs`
    (tested)."""
    runs = [str(r) for r in runs]
    jobs = max(1, min(jobs or available_cores(), len(runs)))
    if jobs == 1:
        return [subject_from_run(r, episodes, seed, progress, tags.get(r)) for r in runs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    # spawn, not fork: a forked copy of a process that has run torch's thread pools can deadlock
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        work = pool.map(_record_one, [(r, episodes, seed, tags.get(r)) for r in runs])
        return list(tqdm(work, total=len(runs), desc=f"record {len(runs)} runs, {jobs} at once", unit="run",
                         disable=not progress, leave=False))


def compare(runs=(), subjects=(), out_dir: str | Path = "compare", episodes: int = 10, seed: int = 2000,
            benchmarks: list[str] | None = None, progress: bool = False, tags: dict | None = None,
            jobs: int | None = None) -> dict:
    """Score runs and NWB subjects; write ``report.html`` and ``scores.json`` in `out_dir`. `tags` {run: tag}
    label some runs' models apart (`subject_from_run`); `jobs` runs are recorded at once (default: one per
    available core)."""
    from comparisons.rodent_data import open_field_statistics

    if not runs and not subjects:
        raise ValueError("compare needs at least one run (runs=[...]) or NWB subject (subjects=[...])")
    for b in benchmarks or []:
        bm.get(b)
    out_dir = Path(out_dir)
    tags = tags or {}
    subs = record_subjects(runs, episodes, seed, {str(k): v for k, v in tags.items()}, jobs, progress) + [
        subject_from_nwb(p) for p in subjects]
    seen: dict[str, int] = {}
    for s in subs:  # two runs of the same circuit, task and seed (e.g. different hyperparameters) stay apart
        seen[s.name] = seen.get(s.name, 0) + 1
        if seen[s.name] > 1:
            s.name = f"{s.name}#{seen[s.name]}"
    return write_report(subs, out_dir, benchmarks, open_field_statistics("sargolini2006"))


def write_report(subs: list[bm.Subject], out_dir: Path, benchmarks, rat: dict) -> dict:
    from training.files import atomic_write_json, atomic_write_text

    scores = bm.score_all(subs, benchmarks)
    sims = similarity_matrices(subs)
    ts_png, ts_medians, ts_missing = timescale_figure(subs)
    sections = {name: "" for name in SECTIONS}
    sections["Circuits x benchmarks"] = score_matrix(scores)
    summary = verdict_summary(scores, subs)
    sections["What each circuit reproduces"] = (
        "<ul>" + "".join(f"<li><b>{html.escape(c)}</b>: {html.escape(summary_line(d))}</li>"
                         for c, d in summary.items())
        + "</ul><p>Verdicts against each benchmark's rodent range over seeds (n), and each Kawai lesion's outcome "
          "beside the rats', per seed; construction checks and benchmarks that do not apply are left out. The "
          "matrix below gives the values and intervals.</p>") if summary else "<p>No scored finding.</p>"
    spread = spread_figure(scores)
    sections["Each benchmark: circuits beside the rodent range"] = (
        _img(spread, "benchmarks") if spread else "<p>No applicable benchmark.</p>")
    curves = learning_curves(subs)
    crit = {s.task: _criterion(s.task) for s in subs if s.task}
    lc = learning_figure(curves, crit)
    sections["Learning curves"] = (_img(lc, "learning curves") + "<p>Training metric (with the task's training "
                                   "aids), median over seeds, band: the seeds' range.</p>" if lc else
                                   "<p>No training curves among these subjects.</p>")
    kawai = kawai_figure(subs)
    sections["Kawai et al. 2015: motor-cortex lesions"] = (
        (_img(kawai, "Kawai lesions") if kawai else "<p>No lesion experiments on the lever task.</p>")
        + f"<p>Rats (Kawai et al. 2015, Neuron 86:800): motor-cortex lesion after learning preserved the learned "
          "timed press; before learning, rats did not acquire it. Each circuit's declared motor_cortex populations "
          "are silenced.</p>")
    sections["Benchmark scores"] = score_table(scores)
    ipi_png = ipi_figure(subs)
    sections["Inter-press intervals"] = (_img(ipi_png, "IPI histograms") if ipi_png else
                                         "<p>No lever_timing runs among these subjects.</p>")
    sim_html = [_img(png, f"similarity {t}") + similarity_table(s) for t, s in sims.items()
                if (png := similarity_figure(t, s))]
    sections["Representational similarity"] = "".join(sim_html) or "<p>Fewer than two recordings on any one task.</p>"
    sections["Timescales by population"] = (_img(ts_png, "timescales") if ts_png else "<p>No fittable timescales.</p>") + (
        f"<p>No unit with a positive, decaying autocorrelation at the recording's bin width (timescale shorter "
        f"than one bin) in: {html.escape(', '.join(ts_missing))}.</p>" if ts_missing else "")
    sections["Lesion experiments"] = lesion_table(subs)
    sections["Open-field speed"] = (_img(open_field_figure(subs, rat), "open-field speed")
                                    + f"<p>Real rat: {html.escape(reference.cite('sargolini2006.open_field_speed'))}, "
                                    f"trajectory shipped in the ratinabox package; Gaussian smoothing SD "
                                    f"{rat['smoothing_s']} s; speed autocorrelation 1/e time "
                                    f"{rat['speed_autocorr_time_s']:.2f} s; heading angular velocity SD "
                                    f"{rat['heading_omega_sd_deg_s']:.0f} °/s and median |angular velocity| "
                                    f"{rat['heading_omega_median_abs_deg_s']:.0f} °/s while moving faster than "
                                    f"{100 * rat['moving_threshold_m_s']:g} cm/s. Reference range: "
                                    f"{html.escape(bm.rodent_value_and_range('sargolini2006.open_field_speed')[2])}.</p>")
    body = "".join(f"<h2>{html.escape(k)}</h2>{v}" for k, v in sections.items())
    who = ", ".join(s.name for s in subs)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>windtunnel comparison</title>"
            f"<style>{CSS}</style></head><body><h1>windtunnel comparison</h1><p>Subjects: {html.escape(who)}</p>"
            f"{body}</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "report.html", page)
    result = {"subjects": [{"name": s.name, "model": s.model, "task": s.task} for s in subs],
              "scores": [s.to_json() for s in scores], "similarity": sims, "timescale_medians_s": ts_medians,
              "lesions": {s.name: s.lesions for s in subs if s.lesions},
              "rodent_open_field": {k: v for k, v in rat.items() if k not in ("speed_m_s", "median_speed_by_segment_m_s")}}
    atomic_write_json(out_dir / "scores.json", json.loads(json.dumps(result, default=_json_default)))
    atomic_write_text(out_dir / "results.md", results_markdown(scores, subs))
    from training.files import atomic_write_bytes

    for name, b64 in (("matrix_spread", spread), ("learning", lc), ("kawai", kawai)):  # for docs pages
        if b64:
            atomic_write_bytes(out_dir / "figures" / f"{name}.png", base64.b64decode(b64))
    return {"report": str(out_dir / "report.html"), "scores_json": str(out_dir / "scores.json"),
            "results_md": str(out_dir / "results.md"), "scores": scores,
            "similarity": sims}


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
