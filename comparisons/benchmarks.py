"""Brain-Score-style benchmarks: reference data + a metric that measures the cited quantity by the cited
method + the rodent spread + citation and species -> `Score`.

A `Subject` is one trained model seed (or one animal): its recording on its task (evaluated with the
policy's own noise, so its trials are independent), lesion results and an open-field head trajectory,
whichever exist. A benchmark measures one number per subject; `score(name, subjects)` pools the seeds
of one model into a `Score`:

- n: the independent seeds that gave a value; the mean over them with its 95 % t interval;
- the rodent value and range from `comparisons.reference`, with the species they come from and how
  the range was built (`range_basis`);
- a verdict: **consistent** (the point inside the rodent range and the interval inside or overlapping
  it; for a half-open range, an ordinal finding such as "a ratio above 1.05", the whole interval inside
  it), **inconsistent** (the interval entirely outside it), or **inconclusive** (fewer than 3 seeds,
  an interval wider than the range or, for a half-open range, reaching outside it, or a point outside an
  interval that still overlaps the range);
- a normalised score for sorting (1 inside the range, exp(-distance / width) outside).

A property the model is built with (its E fraction) is a *check of construction*, reported with no
verdict. A benchmark that does not apply (spike statistics of a rate network, a lesion never run or of
the wrong populations, an evaluation with faulted or identical trials) says why instead of scoring.

`names()` lists the benchmarks; `get(name)`; `score(name, subjects)`; `score_all(subjects)`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import stats

from comparisons import reference
from comparisons.analyses import behaviour, spiking, timescales
from comparisons.lesion import LEVER_CRITERION, ipi_ratio, sequence_fraction


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
    curve: tuple | None = None  # (env_steps, training criterion metric): the learning curve, when known


VERDICTS = ("consistent", "inconsistent", "inconclusive")
MIN_SEEDS = 3


@dataclass
class Score:
    benchmark: str
    model: str
    applicable: bool
    reason: str = ""
    units: str = ""
    value: float = math.nan  # mean across seeds
    ci95: tuple[float, float] = (math.nan, math.nan)
    n: int = 0  # independent seeds that gave a value
    per_subject: dict = field(default_factory=dict)  # subject name -> value (or the reason it has none)
    notes: dict = field(default_factory=dict)  # subject name -> what the measurement flagged or counted
    rodent_value: object = None
    rodent_range: tuple[float, float] = (-math.inf, math.inf)
    species: str = ""
    range_basis: str = ""
    score: float = math.nan
    verdict: str | None = None  # one of VERDICTS; None for a check of construction or when not applicable
    construction_check: bool = False
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


def verdict(value: float, ci95: tuple[float, float], n: int, low: float, high: float) -> str:
    """consistent / inconsistent / inconclusive (see the module docstring)."""
    if n < MIN_SEEDS or not all(np.isfinite(ci95)):
        return "inconclusive"
    lo, hi = ci95
    if hi < low or lo > high:
        return "inconsistent"
    if not (np.isfinite(low) and np.isfinite(high)):  # a half-open range states an ordinal finding (a ratio above
        # 1.05): only an interval wholly inside it shows the finding; one that reaches outside cannot exclude
        # its absence (a model without the property, measured noisily, lands here)
        return "consistent" if low <= lo and hi <= high else "inconclusive"
    if (hi - lo) > (high - low):
        return "inconclusive"
    return "consistent" if low <= value <= high else "inconclusive"


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


def independent_trials(rec) -> str:
    """'' if no two trials of a recording are identical, else which are (trials that repeat one another
    are one observation, not several: a deterministic policy on a deterministic task repeats itself)."""
    if rec is None or rec.n_trials < 2:
        return ""
    seen: dict[bytes, int] = {}
    for i in range(rec.n_trials):
        key = np.nan_to_num(rec.activity[i], nan=-1e300).tobytes()
        if key in seen:
            return f"trials {seen[key]} and {i} are identical (not independent): evaluate with the policy's noise"
        seen[key] = i
    return ""


def score(name: str, subjects: list[Subject]) -> Score:
    """Score one model (all `subjects` pooled as seeds) on one benchmark."""
    b = get(name)
    ref = reference.entry(b.reference)
    value, (low, high), basis = rodent_value_and_range(b.reference)
    models = {s.model for s in subjects}
    if len(models) != 1:
        raise ValueError(f"score pools the seeds of one model; got subjects of {sorted(models)}")
    out = Score(benchmark=name, model=models.pop(), applicable=False, units=ref["units"],
                rodent_value=value, rodent_range=(low, high), species=str(ref.get("species", "")), range_basis=basis,
                construction_check=bool(ref.get("check_of_construction", False)),
                definition=b.definition, reference=b.reference, citation=reference.cite(b.reference))
    values = {}
    for s in subjects:
        problem = faulted(s) or independent_trials(s.recording)
        if problem:
            out.per_subject[s.name] = f"not applicable: {problem}, not scored as behaviour" if faulted(s) else \
                f"not applicable: {problem}"
            continue
        try:
            measured = b.measure(s)
        except NotApplicable as exc:
            out.per_subject[s.name] = f"not applicable: {exc}"
            continue
        if isinstance(measured, tuple):  # (value, what the measurement flagged or counted)
            measured, note = measured
            out.notes[s.name] = note
        values[s.name] = float(measured)
    if not values:
        reasons = sorted({v for v in out.per_subject.values()})
        out.reason = "; ".join(r.removeprefix("not applicable: ") for r in reasons)
        return out
    out.per_subject.update(values)
    out.applicable = True
    out.n = len(values)
    out.value, out.ci95 = mean_ci95(list(values.values()))
    if out.construction_check:
        return out  # built in, not a match to data: reported without a verdict
    if np.isfinite(low) or np.isfinite(high):
        out.score = normalised_score(out.value, low, high)
        out.verdict = verdict(out.value, out.ci95, out.n, low, high)
    return out


def score_all(subjects: list[Subject], benchmarks: list[str] | None = None) -> list[Score]:
    """Every benchmark for every model among `subjects` (grouped by `Subject.model`)."""
    by_model: dict[str, list[Subject]] = {}
    for s in subjects:
        by_model.setdefault(s.model, []).append(s)
    return [score(b, group) for b in (benchmarks or names()) for group in by_model.values()]


OPEN_FIELD_ANIMALS = ("sargolini2006", "tanni2022")


@lru_cache(maxsize=None)
def rodent_value_and_range(ref_id: str) -> tuple[object, tuple[float, float], str]:
    """An entry's value, range and how the range was built. ``computed`` entries are computed here from
    the real animals' data: the value is the mean of the animals' medians and the range spans the
    animals (a single animal's per-minute percentiles are not a population range)."""
    e = reference.entry(ref_id)
    if e["value"] == "computed":
        from comparisons.rodent_data import open_field_statistics

        medians = [open_field_statistics(name)["speed_median_m_s"] for name in OPEN_FIELD_ANIMALS]
        return (float(np.mean(medians)), (float(min(medians)), float(max(medians))),
                f"span of {len(medians)} rats' median head speeds ({', '.join(OPEN_FIELD_ANIMALS)}; trajectories "
                "shipped in ratinabox): a between-animal range from two animals")
    basis = e.get("range_basis") or ("published range" if e.get("value_checked") else
                                     "range recalled from the source, not read from a table")
    return e["value"], reference.value_range(ref_id), basis


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


MOTOR_CORTEX_REGIONS = ("M1", "cortex")  # the regions a circuit declares as its motor-cortex equivalent


def motor_cortex(s: Subject) -> set[str]:
    """The populations of the subject's motor-cortex-equivalent regions (from its recording's units)."""
    if s.recording is None:
        return set()
    return {u["population"] for u in s.recording.units if u["region"] in MOTOR_CORTEX_REGIONS}


def _lesion(s: Subject, kind: str) -> dict:
    """The subject's lesion experiment of `kind`, if it is Kawai et al.'s: the whole motor-cortex equivalent
    silenced, on the lever task, with an intact twin that met the task's criterion."""
    found = [r for r in s.lesions if r.get("kind") == kind]
    if not found:
        raise NotApplicable(f"no {kind.replace('_', ' ')} lesion experiment (run `windtunnel lesion <run_dir> "
                            f"populations=[...]{' before_learning=true' if kind == 'before_learning' else ''}`)")
    if s.task != "lever_timing":
        raise NotApplicable(f"Kawai et al. lesioned rats on the lever task (subject is on {s.task})")
    r = found[-1]
    if s.recording is not None:
        cortex = motor_cortex(s)
        units = s.recording.units
        silenced = {u["population"] for u in units if u["population"] in r["populations"] or u["region"] in r["populations"]}
        if not cortex:
            raise NotApplicable(f"the circuit declares no motor-cortex-equivalent region ({', '.join(MOTOR_CORTEX_REGIONS)}); "
                                f"its lesion of {', '.join(r['populations'])} is a different experiment")
        if silenced != cortex:
            raise NotApplicable(f"lesioned {', '.join(sorted(silenced))}, not the whole motor-cortex equivalent "
                                f"({', '.join(sorted(cortex))}): a different experiment, reported in the lesion table")
    crit, threshold = LEVER_CRITERION
    learned = (r.get("intact") or {}).get("metrics", {}).get(crit)
    if learned is None or not np.isfinite(learned) or learned < threshold:
        shown = f"{learned:.2f}" if learned is not None and np.isfinite(learned) else "-"
        raise NotApplicable(f"the intact twin did not meet the task criterion ({crit} {shown} < {threshold}): no "
                            "learned timing to compare")
    return r


@benchmark("kawai2015.lesion_after_learning", "kawai2015.lesion_after_learning",
           "median IPI after silencing the motor-cortex equivalent / median IPI before (0 if fewer than 5 "
           "two-press trials remain), in runs whose intact twin met the task criterion")
def _kawai_after(s: Subject) -> float:
    r = _lesion(s, "after_learning")
    ratio = ipi_ratio(r["intact"], r["lesioned"])
    if ratio is None:
        raise NotApplicable("the intact circuit completes fewer than 5 two-press trials: nothing learned to keep")
    return ratio


@benchmark("kawai2015.lesion_before_learning", "kawai2015.lesion_before_learning",
           "fraction of trials within ±20 % of the intact circuit's median IPI, run lesioned from the start / "
           "intact run, after the same training budget; the intact run met the task criterion")
def _kawai_before(s: Subject) -> float:
    r = _lesion(s, "before_learning")
    if r.get("structural"):  # nothing could be learned: an outcome of the wiring, not a measurement
        raise NotApplicable(f"not acquired by construction: {r['structural']}")
    fraction = sequence_fraction(r["intact"], r["lesioned"])
    if fraction is None:
        raise NotApplicable("the intact circuit completes fewer than 5 two-press trials: no sequence to acquire")
    return fraction


def variability_ratio(trials: list[list[tuple[float, bool]]]) -> tuple[float, int, int]:
    """mean |IPI(n+1) - IPI(n)| after unrewarded trials / after rewarded ones, and the pair counts."""
    after = {True: [], False: []}
    for episode in trials:
        for (ipi, rewarded), (nxt, _) in zip(episode[:-1], episode[1:]):
            if np.isfinite(ipi) and np.isfinite(nxt):
                after[rewarded].append(abs(nxt - ipi))
    n_good, n_bad = len(after[True]), len(after[False])
    if min(n_good, n_bad) == 0 or np.mean(after[True]) == 0:
        return math.nan, n_good, n_bad
    return float(np.mean(after[False]) / np.mean(after[True])), n_good, n_bad


def shuffled_variability_ratios(trials: list[list[tuple[float, bool]]], shuffles: int = 200, seed: int = 0) -> np.ndarray:
    """The same ratio with each episode's trials in random order: keeps every trial's IPI and outcome
    together (and so the IPI distribution and how outcome depends on the IPI), breaks the dependence of a
    trial on the previous outcome."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(shuffles):
        out.append(variability_ratio([[ep[i] for i in rng.permutation(len(ep))] for ep in trials])[0])
    return np.array(out)


@benchmark("dhawale2019.variability_after_failure", "dhawale2019.variability_after_failure",
           "mean |IPI(n+1) - IPI(n)| after unrewarded / after rewarded trials (policy noise on), divided by the "
           "median of the same ratio over 200 shuffles of the trial order (Dhawale et al. 2019's null)")
def _dhawale(s: Subject):
    rec = _recording(s, "lever_timing", stochastic=True)
    trials = lever_trials(rec.events)
    observed, n_good, n_bad = variability_ratio(trials)
    if min(n_good, n_bad) < 10:
        raise NotApplicable(f"needs >= 10 consecutive-trial pairs after each outcome (rewarded {n_good}, "
                            f"unrewarded {n_bad})")
    null = shuffled_variability_ratios(trials)
    null = null[np.isfinite(null)]
    p = float((np.sum(null >= observed) + 1) / (len(null) + 1))
    return observed / float(np.median(null)), {"observed_ratio": observed, "shuffled_median": float(np.median(null)),
                                               "p_vs_shuffled": p, "pairs": [n_good, n_bad]}


@benchmark("sargolini2006.open_field_speed", "sargolini2006.open_field_speed",
           "median head speed (m/s, Gaussian smoothing SD 0.1 s) in the open field; rodent range = the span of "
           "the real rats' median speeds")
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


ONSET_EVENTS = {"lever_timing": "trial_start", "reach": "reach_onset", "two_touch": "touch"}


@benchmark("churchland2010.fano_drop", "churchland2010.fano_drop",
           "mean-matched Fano factor of spike counts (100 ms windows, across trials) over 0-0.2 s after the task's "
           "movement onset / over 0.3-0.1 s before it (Churchland et al. 2010's method)")
def _fano_drop(s: Subject):
    rec = _spiking(s)
    event = ONSET_EVENTS.get(s.task)
    if event is None:
        raise NotApplicable(f"no movement-onset event defined for task {s.task}")
    try:
        r = spiking.fano_change_at_onset(rec, event)
    except ValueError as exc:
        raise NotApplicable(str(exc)) from None
    return r["ratio"], {"fano_before": r["before"], "fano_after": r["after"], "trials": r["trials"], "event": event}


@benchmark("timescales.murray2014", "murray2014.intrinsic_timescale",
           "median over units of the intrinsic timescale (s): across-trial autocorrelation at fixed task times, "
           "A (exp(-lag/tau) + B) fitted from the lag where the decay begins (Murray et al. 2014's method); "
           "units without one are counted by reason")
def _timescale(s: Subject):
    rec = _recording(s)
    try:
        ts = timescales.intrinsic_timescales(rec)
    except ValueError as exc:
        raise NotApplicable(str(exc)) from None
    fitted = ts.counts["valid"] + ts.counts["beyond_window"] + ts.counts["below_bin"] + ts.counts["fit_failed"]
    if ts.counts["valid"] < 3 or ts.counts["valid"] < 0.5 * fitted:
        raise NotApplicable(f"{ts.describe()} (window {ts.max_lag_s:g} s): no population timescale the recording "
                            "supports")
    return float(np.nanmedian(ts.tau_s)), {"units": ts.counts, "window_s": ts.max_lag_s, "trials": ts.n_trials}


CORTICAL_REGIONS = ("M1", "cortex")


@benchmark("anatomy.ei_fraction", "markram2004.cortical_e_fraction",
           "fraction of excitatory units among the signed units of cortical regions (M1, cortex): a check of "
           "construction (the circuit is built with it), not a match to data")
def _ei_fraction(s: Subject) -> float:
    units = [u for u in _recording(s).units if u["region"] in CORTICAL_REGIONS and u["sign"] != 0]
    if not units:
        raise NotApplicable("no sign-constrained cortical units")
    return float(np.mean([u["sign"] > 0 for u in units]))
