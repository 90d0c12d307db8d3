"""`Recording`: a circuit's (or an animal's) units and behaviour in the form an electrophysiologist uses.

trials x time x units activity (rates in Hz for rate units and binned spike counts converted to Hz
for spiking ones), spike times per trial and unit for spiking units, unit metadata (population,
region, sign, cell type), behaviour (events and kinematics per trial), the sampling rate, and
provenance. Model and animal data share this type: `comparisons.nwb` writes and reads it.

`record(run_dir, episodes, ...)` runs a trained circuit on its task and records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.checkpoint import single_thread


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


@single_thread()
def record(run_dir: str | Path, episodes: int = 10, task: str | None = None, checkpoint: str = "best",
           seed: int = 2000, deterministic: bool = True, lesion=(), task_overrides: dict | None = None,
           canonical: bool = True) -> Recording:
    """Run a trained circuit for `episodes` episodes and record every unit and the behaviour.

    Rates: rate populations as they are (arbitrary units, the circuit's rate variable); spiking
    populations as spike counts per control step / dt (Hz), with exact spike times at the
    circuit's substep resolution. Each episode is one trial of the Recording.
    """
    import torch
    from omegaconf import OmegaConf

    import tasks
    from training.checkpoint import build_agent, find_checkpoint, load_checkpoint
    from training.config import task_spec

    ckpt_path = find_checkpoint(run_dir, checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    agent, normalizer = build_agent(ckpt)
    agent.eval()
    circuit = agent.circuit
    lesioned = sorted(set(ckpt.get("lesioned", [])) | set(lesion or []))
    if lesioned:
        circuit.lesion(lesioned)
    cfg = ckpt["config"]
    name, kwargs = task_spec(OmegaConf.create(cfg))
    if task is not None and task != name:
        raise ValueError(f"run {run_dir} was trained on {name!r}; recording on another task ({task!r}) needs the same "
                         "observation and action sizes, which lab tasks do not share")
    task_cls = tasks.task_class(name)
    if canonical:
        kwargs.update(task_cls.canonical)
    kwargs.update(task_overrides or {})
    env = tasks.make(name, **kwargs)
    dt = env.control_dt
    units = [{"population": p.name, "region": p.region, "sign": p.sign, "cell_type": p.cell_type, "kind": p.kind}
             for p in circuit.populations for _ in range(p.size)]
    substep_dt = dt / getattr(circuit, "substeps", 1)
    spiking = any(p.kind == "spike" for p in circuit.populations)
    acts, kins, events, spikes_all, infos = [], {}, [], [], []
    generator = torch.Generator().manual_seed(seed)
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            state = circuit.initial_state(1)
            reset = torch.ones(1, dtype=torch.bool)
            rows, ev, kin_rows, spike_lists = [], [], {}, [[] for _ in units]
            total, done, step = 0.0, False, 0
            records = []
            while not done:
                with torch.no_grad():
                    x = torch.as_tensor(normalizer(obs[None]))
                    mean, _, state, activity, _ = agent(x, state, reset, circuit.sample_noise(1, generator) or None)
                    action = mean if deterministic else mean + agent.log_std.exp() * torch.randn(
                        mean.shape, generator=generator)
                reset = torch.zeros(1, dtype=torch.bool)
                row, offset = [], 0
                for p in circuit.populations:
                    a = activity[p.name][0].numpy()
                    if p.kind == "spike":  # a: [substeps, units]
                        row.append(a.sum(0) / dt)
                        for k, unit in zip(*np.nonzero(a)):
                            spike_lists[offset + unit].append(step * dt + (k + 1) * substep_dt)
                    else:
                        row.append(a)
                    offset += p.size
                rows.append(np.concatenate(row))
                obs, r, term, trunc, info = env.step(action[0].clamp(-1, 1).numpy())
                total += r
                ev.extend(info["events"])
                records.extend(info.get("records", []))
                for k, v in info["kinematics"].items():
                    kin_rows.setdefault(k, []).append(np.asarray(v, dtype=np.float64).reshape(-1))
                done = term or trunc
                step += 1
            acts.append(np.array(rows))
            events.append([(n, float(t)) for n, t in ev])
            for k, v in kin_rows.items():
                kins.setdefault(k, []).append(np.array(v))
            spikes_all.append([np.array(s) for s in spike_lists])
            infos.append({"return": total, "steps": step, **task_cls.metrics(records)})
    finally:
        env.close()
    return Recording(
        activity=_pad(acts), sampling_rate_hz=1.0 / dt, units=units,
        spike_times=spikes_all if spiking else None, events=events,
        kinematics={k: _pad(v) for k, v in kins.items()}, trial_info=infos,
        provenance={"run_dir": str(run_dir), "checkpoint": str(ckpt_path), "task": name,
                    "circuit": cfg["circuit"]["name"], "seed": seed, "training_seed": cfg["seed"],
                    "lesioned": lesioned, "canonical": canonical, "deterministic": deterministic,
                    "env_steps_trained": ckpt["env_steps"]},
    )
