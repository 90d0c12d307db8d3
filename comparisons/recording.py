"""`Recording`: a circuit's (or an animal's) units and behaviour in the form an electrophysiologist uses.

trials x time x units activity (rates in Hz for rate units and binned spike counts converted to Hz
for spiking ones), spike times per trial and unit for spiking units, unit metadata (population,
region, sign, cell type), behaviour (events and kinematics per trial), the sampling rate, and
provenance. Model and animal data share this type: `comparisons.nwb` writes and reads it.

`record(run, episodes, ...)` runs a trained circuit on its task (`training.rollout`) and records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np



@dataclass
class Recording:
    activity: np.ndarray  # [trials, time, units] float; NaN after a trial's end (trials may differ in length)
    sampling_rate_hz: float
    units: list[dict]  # per unit: population, region, sign (+1/-1/0), cell_type, kind ("rate" | "spike")
    spike_times: list[list[np.ndarray]] | None = None  # [trial][unit] -> spike times (s, from trial start)
    events: list[list[tuple[str, float]]] = field(default_factory=list)  # [trial] -> [(name, t_s)]
    kinematics: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [trials, time, dims]
    trial_info: list[dict] = field(default_factory=list)  # per trial: e.g. rewarded, return
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.activity = np.asarray(self.activity, dtype=np.float64)
        if self.activity.ndim != 3:
            raise ValueError(f"activity must be [trials, time, units], got shape {self.activity.shape}")
        n_trials, _, n_units = self.activity.shape
        if len(self.units) != n_units:
            raise ValueError(f"{len(self.units)} unit descriptions for {n_units} units")
        if self.sampling_rate_hz <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {self.sampling_rate_hz}")
        if self.events and len(self.events) != n_trials:
            raise ValueError(f"events for {len(self.events)} trials, activity has {n_trials}")
        for name, k in self.kinematics.items():
            if k.shape[:2] != self.activity.shape[:2]:
                raise ValueError(f"kinematics {name!r} has shape {k.shape}; expected [trials, time, ...] "
                                 f"= {self.activity.shape[:2]}")

    # ------------------------------------------------------------------------------ views
    @property
    def n_trials(self) -> int:
        return self.activity.shape[0]

    @property
    def n_units(self) -> int:
        return self.activity.shape[2]

    @property
    def dt_s(self) -> float:
        return 1.0 / self.sampling_rate_hz

    @property
    def trial_lengths(self) -> np.ndarray:
        """Valid time bins per trial (activity is NaN-padded after a trial ends)."""
        valid = ~np.isnan(self.activity).all(axis=2)  # [trials, time]
        return valid.sum(axis=1)

    def populations(self) -> list[str]:
        seen: list[str] = []
        for u in self.units:
            if u["population"] not in seen:
                seen.append(u["population"])
        return seen

    def unit_index(self, population: str | None = None, region: str | None = None) -> np.ndarray:
        idx = [i for i, u in enumerate(self.units)
               if (population is None or u["population"] == population) and (region is None or u["region"] == region)]
        if not idx:
            raise ValueError(f"no units with population={population!r} region={region!r}; populations: "
                             f"{', '.join(self.populations())}")
        return np.array(idx)

    def select(self, population: str | None = None, region: str | None = None) -> "Recording":
        idx = self.unit_index(population, region)
        spikes = None if self.spike_times is None else [[trial[i] for i in idx] for trial in self.spike_times]
        return Recording(self.activity[:, :, idx], self.sampling_rate_hz, [self.units[i] for i in idx], spikes,
                         self.events, self.kinematics, self.trial_info, dict(self.provenance))

    def concatenated(self) -> np.ndarray:
        """All valid time bins of all trials, [samples, units]."""
        x = self.activity.reshape(-1, self.n_units)
        return x[~np.isnan(x).any(axis=1)]

    def event_times(self, name: str) -> list[np.ndarray]:
        """Times (s) of one event per trial; "episode_start" is t = 0 of every trial."""
        if name == "episode_start":
            return [np.array([0.0]) for _ in range(self.n_trials)]
        return [np.array([t for n, t in trial if n == name]) for trial in self.events]


def _pad(arrays: list[np.ndarray]) -> np.ndarray:
    t_max = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), t_max) + arrays[0].shape[1:], np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


def record(run, episodes: int = 10, task: str | None = None, checkpoint: str = "best", seed: int = 2000,
           deterministic: bool = True, lesion=(), task_overrides: dict | None = None, canonical: bool = True,
           progress: bool = False) -> Recording:
    """Run a trained circuit (a `training.Run` or its directory) for `episodes` episodes and record every
    unit and the behaviour.

    Rates: rate populations as they are (arbitrary units, the circuit's rate variable); spiking
    populations as spike counts per control step / dt (Hz), with exact spike times at the
    circuit's substep resolution. Each episode is one trial of the Recording.
    """
    from training.rollout import rollout
    from training.run import Run

    run = run if isinstance(run, Run) else Run(run)
    if task is not None and task != run.task_name:
        raise ValueError(f"run {run.path} was trained on {run.task_name!r}; recording on another task ({task!r}) needs "
                         "the same observation and action sizes, which lab tasks do not share")
    agent, normalizer = run.agent(checkpoint, lesion)
    circuit = agent.circuit
    env = run.make_env(canonical=canonical, task_overrides=task_overrides)
    dt = env.control_dt
    units = [{"population": p.name, "region": p.region, "sign": p.sign, "cell_type": p.cell_type, "kind": p.kind}
             for p in circuit.populations for _ in range(p.size)]
    substep_dt = dt / getattr(circuit, "substeps", 1)
    spiking = any(p.kind == "spike" for p in circuit.populations)
    trials = [{"rows": [], "events": [], "kinematics": {}, "spikes": [[] for _ in units]} for _ in range(episodes)]

    def on_step(ep, step, activity, info):
        trial, row, offset = trials[ep], [], 0
        for p in circuit.populations:
            a = activity[p.name][0].numpy()
            if p.kind == "spike":  # a: [substeps, units]
                row.append(a.sum(0) / dt)
                for k, unit in zip(*np.nonzero(a)):
                    trial["spikes"][offset + unit].append(step * dt + (k + 1) * substep_dt)
            else:
                row.append(a)
            offset += p.size
        trial["rows"].append(np.concatenate(row))
        trial["events"].extend(info["events"])
        for k, v in info["kinematics"].items():
            trial["kinematics"].setdefault(k, []).append(np.asarray(v, dtype=np.float64).reshape(-1))

    try:
        eps = rollout(agent, normalizer, env, episodes, seed, deterministic, on_step=on_step,
                      progress=f"record {run.circuit_name}" if progress else None)
    finally:
        env.close()
    kins: dict[str, list] = {}
    for trial in trials:
        for k, v in trial["kinematics"].items():
            kins.setdefault(k, []).append(np.array(v))
    return Recording(
        activity=_pad([np.array(t["rows"]) for t in trials]), sampling_rate_hz=1.0 / dt, units=units,
        spike_times=[[np.array(s) for s in t["spikes"]] for t in trials] if spiking else None,
        events=[[(n, float(t_s)) for n, t_s in t["events"]] for t in trials],
        kinematics={k: _pad(v) for k, v in kins.items()},
        trial_info=[{"return": e.episode_return, "steps": e.steps, "fault": e.fault, **run.task_class.metrics(e.records)}
                    for e in eps],
        provenance={"run_dir": str(run.path), "checkpoint": str(run.checkpoint_path(checkpoint)), "task": run.task_name,
                    "circuit": run.circuit_name, "seed": seed, "training_seed": run.config["seed"],
                    "lesioned": agent.lesioned, "canonical": canonical, "deterministic": deterministic,
                    "env_steps_trained": run.checkpoint(checkpoint)["env_steps"],
                    "spike_time_resolution_s": substep_dt},
    )
