"""Brain-Score-style benchmarks: reference data + metric + spread + citation -> `Score`.

A `Subject` is one trained model seed (or one animal): its recording on its task, a stochastic
recording (policy noise standing in for motor noise) for variability analyses, lesion results and
an open-field head trajectory, whichever exist. A benchmark measures one number per subject and
`score(name, subjects)` pools the subjects of one model (seeds) into a `Score`: the mean across
seeds with a 95 % t confidence interval, the rodent value and range from `comparisons.reference`,
a normalised score and pass/fail.

Normalised score (the same for every benchmark): 1 when the model's mean lies inside the rodent
range [low, high]; outside, exp(-d / w) where d is the distance to the nearer edge and w the range
width (or, for a one-sided range, the distance of its edge from 0, at least 0.1) — so it is in
(0, 1] and falls monotonically with the distance from the rodent range. Pass = inside the range.
A benchmark that does not apply to a subject (spike statistics of a rate network, a lesion that
was never run) says why instead of scoring zero.

`names()` lists the benchmarks; `get(name)`; `score(name, subjects)`; `score_all(subjects)`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import stats

from comparisons import reference
from comparisons.analyses import behaviour, spiking, timescales
from comparisons.lesion import ipi_ratio, sequence_fraction


class NotApplicable(Exception):
    """The benchmark cannot be measured on this subject; the message says why."""


@dataclass
class Subject:
    name: str  # e.g. "lstm/seed0", or an animal's id
    model: str  # what seeds are pooled over: a circuit name, or "rat"
    task: str | None = None
    recording: object | None = None  # comparisons.Recording on the task (canonical, deterministic)
    stochastic_recording: object | None = None  # the same with the policy's own noise (motor variability)
    lesions: list[dict] = field(default_factory=list)  # results written by `windtunnel lesion`
    trajectory: list[tuple[np.ndarray, np.ndarray]] | None = None  # open-field head, per episode (t_s, pos_m [samples, 2])
    circuit: str | None = None


@dataclass
class Score:
    benchmark: str
    model: str
    applicable: bool
    reason: str = ""
    units: str = ""
    value: float = math.nan  # mean across seeds
    ci95: tuple[float, float] = (math.nan, math.nan)
    per_subject: dict = field(default_factory=dict)  # subject name -> value (or the reason it has none)
    rodent_value: object = None
    rodent_range: tuple[float, float] = (-math.inf, math.inf)
    score: float = math.nan
    passed: bool | None = None
    definition: str = ""
    reference: str = ""
    citation: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("value", "score"):
            d[k] = None if not np.isfinite(d[k]) else d[k]
        d["ci95"] = [None if not np.isfinite(v) else v for v in self.ci95]
        d["rodent_range"] = [None if not np.isfinite(v) else v for v in self.rodent_range]
        return d


@dataclass
class Benchmark:
    name: str
    reference: str  # id of the comparisons.reference entry
    measure: Callable[[Subject], float]
    definition: str  # what the model value is, in one sentence


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, reference_id: str, definition: str):
    def register(fn):
        BENCHMARKS[name] = Benchmark(name, reference_id, fn, definition)
        return fn
    return register


def names() -> list[str]:
    return sorted(BENCHMARKS)


def get(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; valid: {', '.join(names())}")
    return BENCHMARKS[name]


# ------------------------------------------------------------------------------- scoring
def normalised_score(value: float, low: float, high: float) -> float:
    """1 inside [low, high]; exp(-distance / width) outside (see the module docstring)."""
    if not np.isfinite(value):
        return 0.0
    if low <= value <= high:
        return 1.0
    if np.isfinite(low) and np.isfinite(high):
        width = high - low
    else:
        edge = low if np.isfinite(low) else high
        width = max(abs(edge), 0.1)
    d = low - value if value < low else value - high
    return float(np.exp(-d / width))


def mean_ci95(values) -> tuple[float, tuple[float, float]]:
    x = np.asarray(values, dtype=np.float64)
    m = float(x.mean())
    if len(x) < 2:
        return m, (math.nan, math.nan)
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, (m - half, m + half)


def faulted(subject: Subject) -> str:
    """'' if none of the subject's recorded episodes ended in a numerical fault, else what faulted
    (e.g. '3 of 10 episodes faulted (circuit_error)')."""
    parts = []
    for rec in (subject.recording, subject.stochastic_recording):
        if rec is None or not rec.trial_info:
            continue
        kinds = [t.get("fault") for t in rec.trial_info if t.get("fault")]
        if kinds:
            parts.append(f"{len(kinds)} of {len(rec.trial_info)} episodes faulted ({', '.join(sorted(set(kinds)))})")
    return "; ".join(parts)


def score(name: str, subjects: list[Subject]) -> Score:
    """Score one model (all `subjects` pooled as seeds) on one benchmark."""
    b = get(name)
    ref = reference.entry(b.reference)
    value, (low, high) = rodent_value_and_range(b.reference)
    models = {s.model for s in subjects}
    if len(models) != 1:
        raise ValueError(f"score pools the seeds of one model; got subjects of {sorted(models)}")
    out = Score(benchmark=name, model=models.pop(), applicable=False, units=ref["units"],
                rodent_value=value, rodent_range=(low, high),
                definition=b.definition, reference=b.reference, citation=reference.cite(b.reference))
    values = {}
    for s in subjects:
        fault = faulted(s)
        if fault:
            out.per_subject[s.name] = f"not applicable: {fault}, not scored as behaviour"
            continue
        try:
            values[s.name] = float(b.measure(s))
        except NotApplicable as exc:
            out.per_subject[s.name] = f"not applicable: {exc}"
    if not values:
        reasons = sorted({v for v in out.per_subject.values()})
        out.reason = "; ".join(r.removeprefix("not applicable: ") for r in reasons)
        return out
    out.per_subject.update(values)
    out.applicable = True
    out.value, out.ci95 = mean_ci95(list(values.values()))
    if np.isfinite(low) or np.isfinite(high):
        out.score = normalised_score(out.value, low, high)
        out.passed = bool(low <= out.value <= high)
    return out


def score_all(subjects: list[Subject], benchmarks: list[str] | None = None) -> list[Score]:
    """Every benchmark for every model among `subjects` (grouped by `Subject.model`)."""
    by_model: dict[str, list[Subject]] = {}
    for s in subjects:
        by_model.setdefault(s.model, []).append(s)
    return [score(b, group) for b in (benchmarks or names()) for group in by_model.values()]


@lru_cache(maxsize=None)
def rodent_value_and_range(ref_id: str) -> tuple[object, tuple[float, float]]:
    """An entry's value and range; ``computed`` entries are computed here from the real data they name
    (the median speed, and the 5th-95th percentile of the per-minute medians as the range)."""
    e = reference.entry(ref_id)
    if e["value"] == "computed":
        from comparisons.rodent_data import open_field_statistics

        st = open_field_statistics(e["data"])
        return st["speed_median_m_s"], st["speed_median_range_m_s"]
    return e["value"], reference.value_range(ref_id)


# ------------------------------------------------------------------------ measurements
def _recording(s: Subject, task: str | None = None, stochastic: bool = False):
    rec = s.stochastic_recording if stochastic else s.recording
    if rec is None:
        raise NotApplicable("no stochastic recording" if stochastic else "no recording")
    if task is not None and s.task != task:
        raise NotApplicable(f"needs a {task} recording (subject is on {s.task})")
    return rec


def _spiking(s: Subject):
    rec = _recording(s)
    if rec.spike_times is None:
        raise NotApplicable("rate units have no spikes")
    return rec


def lever_trials(events: list[list[tuple[str, float]]]) -> list[list[tuple[float, bool]]]:
    """Per episode, the trials in order: (IPI s, rewarded); IPI is NaN for a trial that timed out."""
    out = []
    for episode in events:
        trials, start, ipi, rewarded = [], None, math.nan, False
        for name, t in episode:
            if name == "trial_start":
                start, ipi, rewarded = t, math.nan, False
            elif name == "press" and start is not None and t > start:
                ipi = t - start
            elif name == "reward":
                rewarded = True
            elif name == "trial_end" and start is not None:
                trials.append((ipi, rewarded))
                start = None
        out.append(trials)
    return out


@benchmark("kawai2015.ipi", "kawai2015.target_ipi",
           "median inter-press interval (s) of completed two-press trials on the canonical lever task")
def _kawai_ipi(s: Subject) -> float:
    rec = _recording(s, "lever_timing")
    ipis = behaviour.ipis_from_events(rec.events)
    if len(ipis) < 5:
        raise NotApplicable(f"only {len(ipis)} completed two-press trials (needs 5)")
    return float(np.median(ipis))


def _lesion(s: Subject, kind: str) -> dict:
    found = [r for r in s.lesions if r.get("kind") == kind]
    if not found:
        raise NotApplicable(f"no {kind.replace('_', ' ')} lesion experiment (run `windtunnel lesion <run_dir> "
                            f"populations=[...]{' before_learning=true' if kind == 'before_learning' else ''}`)")
    if s.task != "lever_timing":
        raise NotApplicable(f"Kawai et al. lesioned rats on the lever task (subject is on {s.task})")
    return found[-1]


@benchmark("kawai2015.lesion_after_learning", "kawai2015.lesion_after_learning",
           "median IPI after silencing the lesioned populations / median IPI before (0 if fewer than 5 two-press "
           "trials remain)")
def _kawai_after(s: Subject) -> float:
    r = _lesion(s, "after_learning")
    ratio = ipi_ratio(r["intact"], r["lesioned"])
    if ratio is None:
        raise NotApplicable("the intact circuit completes fewer than 5 two-press trials: nothing learned to keep")
    return ratio


@benchmark("kawai2015.lesion_before_learning", "kawai2015.lesion_before_learning",
           "fraction of trials within ±20 % of the intact circuit's median IPI, lesioned-from-the-start run / "
           "intact run, after the same training budget")
def _kawai_before(s: Subject) -> float:
    r = _lesion(s, "before_learning")
    fraction = sequence_fraction(r["intact"], r["lesioned"])
    if fraction is None:
        raise NotApplicable("the intact circuit completes fewer than 5 two-press trials: no sequence to acquire")
    return fraction


@benchmark("dhawale2019.variability_after_failure", "dhawale2019.variability_after_failure",
           "mean |IPI(n+1) - IPI(n)| after unrewarded trials / after rewarded trials (policy noise on)")
def _dhawale(s: Subject) -> float:
    rec = _recording(s, "lever_timing", stochastic=True)
    after = {True: [], False: []}
    for trials in lever_trials(rec.events):
        for (ipi, rewarded), (nxt, _) in zip(trials[:-1], trials[1:]):
            if np.isfinite(ipi) and np.isfinite(nxt):
                after[rewarded].append(abs(nxt - ipi))
    if min(len(after[True]), len(after[False])) < 5:
        raise NotApplicable(f"needs >= 5 consecutive-trial pairs after each outcome (rewarded "
                            f"{len(after[True])}, unrewarded {len(after[False])})")
    base = np.mean(after[True])
    return float(np.mean(after[False]) / base) if base > 0 else math.inf


@benchmark("sargolini2006.open_field_speed", "sargolini2006.open_field_speed",
           "median head speed (m/s, Gaussian smoothing SD 0.1 s) in the open field; rodent range = 5th-95th "
           "percentile of the real rat's per-minute medians")
def _open_field_speed(s: Subject) -> float:
    if not s.trajectory:
        raise NotApplicable("no open-field head trajectory (record a run of task=open_field)")
    return float(np.median(np.concatenate([behaviour.locomotion_statistics(t, p, smoothing_s=0.1)["speed_m_s"]
                                           for t, p in s.trajectory])))


@benchmark("rates.lognormal", "buzsaki2014.lognormal_rates",
           "SD of log10 mean firing rate across active spiking units")
def _rates_lognormal(s: Subject) -> float:
    rates = spiking.mean_rates_hz(_spiking(s))
    active = rates[np.isfinite(rates) & (rates > 0)]
    if len(active) < 3:
        raise NotApplicable(f"only {len(active)} active units")
    return float(np.log10(active).std(ddof=1))


@benchmark("spiking.isi_cv", "softky1993.isi_cv", "median ISI coefficient of variation across spiking units")
def _isi_cv(s: Subject) -> float:
    cv = spiking.recording_isi_cv(_spiking(s))
    if not np.isfinite(cv).any():
        raise NotApplicable("no unit fires 5 spikes")
    return float(np.nanmedian(cv))


@benchmark("spiking.fano_factor", "churchland2010.fano_factor",
           "mean Fano factor of spike counts in 100 ms windows at matched times across trials (episodes)")
def _fano(s: Subject) -> float:
    rec = _spiking(s)
    if rec.n_trials < 3:
        raise NotApplicable(f"needs >= 3 trials, got {rec.n_trials}")
    length_s = float(rec.trial_lengths.min()) * rec.dt_s
    starts = np.arange(0.0, length_s - 0.1 + 1e-9, 0.1)
    if len(starts) == 0:
        raise NotApplicable("trials shorter than 100 ms")
    values = []
    for a in starts:
        counts = np.array([[np.sum((u > a) & (u <= a + 0.1)) for u in trial] for trial in rec.spike_times])
        values.append(spiking.fano_factor(counts))
    with warnings.catch_warnings():  # units silent in every window have no Fano factor
        warnings.simplefilter("ignore", RuntimeWarning)
        f = np.nanmean(np.array(values), axis=0)  # per unit
    if not np.isfinite(f).any():
        raise NotApplicable("no unit spikes in the windows")
    return float(np.nanmean(f))


@benchmark("timescales.murray2014", "murray2014.intrinsic_timescale",
           "median across units of the intrinsic timescale (s): exponential fit to the activity autocorrelation; "
           "a unit whose autocorrelation is not positive one bin on counts as 0 (faster than the bin)")
def _timescale(s: Subject) -> float:
    rec = _recording(s)
    taus = timescales.unit_timescales(rec, max_lag_s=0.5)
    lag1 = timescales.autocorrelation(rec.activity, 1)[:, 1]
    taus[np.isnan(taus) & (lag1 <= 0)] = 0.0
    if not np.isfinite(taus).any():
        raise NotApplicable("no unit has a fittable autocorrelation")
    return float(np.nanmedian(taus))


CORTICAL_REGIONS = ("M1", "cortex")


@benchmark("anatomy.ei_fraction", "markram2004.cortical_e_fraction",
           "fraction of excitatory units among the signed units of cortical regions (M1, cortex)")
def _ei_fraction(s: Subject) -> float:
    units = [u for u in _recording(s).units if u["region"] in CORTICAL_REGIONS and u["sign"] != 0]
    if not units:
        raise NotApplicable("no sign-constrained cortical units")
    return float(np.mean([u["sign"] > 0 for u in units]))
