"""A circuit as a declared wiring diagram: populations, projections, readout (the spec language).

A spec is a YAML mapping (the built-ins are `circuits/conf/circuit/<name>.yaml`, the hydra `circuit/`
group; a user's own file works the same: `windtunnel train circuit=path/to/my_circuit.yaml`):

    name: my_circuit
    dynamics: {...}          # options of the neuron family (see FAMILY_OPTIONS)
    relay: {...}             # the learned sensory relay of a signed (rate or spiking) circuit
    init: {...}              # initial weights of a rate circuit (E/I balance, spectral radius)
    populations:
      <name>: {model: lif, size: 128, cell_type: pyramidal, sign: E, region: M1, tau_mem_ms: 20, drive: 0.95}
    projections:
      <name>: {pre: obs | <population>, post: <population>, gain: 1.0, density: 1.0, mask: all, delay: 0}
    readout: [<population>, ...]   # what the actor head reads
    critic: null | [<population>, ...]   # what the critic sees beside the observation (null: the readout)
    neuromodulation:
      dopamine: {level: 0.0, projections: {<projection>: +1 | -1}}   # weight x (1 + gain level)

Neuron models (`MODELS`) and their families: `dense` (tanh layers) and `lstm` (the deep-learning
family, unsigned); `rate` (a leaky rate unit, Dale-signed); `lif` and `alif` (current-based leaky
integrate-and-fire on snntorch, and its adaptive-threshold variant of Bellec et al. 2018). One circuit
uses one family. A projection's sign is its presynaptic population's (Dale's law); a `sign:` written
on a projection is checked against it. `validate` turns a mapping into a `CircuitSpec` or raises a
one-line `ValueError` naming the entry at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent / "conf" / "circuit"

MODELS = {"dense": "deep", "lstm": "deep", "rate": "rate", "lif": "spiking", "alif": "spiking"}
SIGNS = {"E": +1, "I": -1, "none": 0}
NONLINEARITIES = ("relu", "softplus")

COMMON_KEYS = ("model", "size", "share", "cell_type", "sign", "region")
MODEL_KEYS: dict[str, dict[str, object]] = {  # per model: option -> default
    "dense": {"layers": 1},
    "lstm": {},
    "rate": {"tau_ms": 50.0, "nonlinearity": "relu", "max_rate": 100.0, "drive": 0.0},
    "lif": {"tau_mem_ms": 20.0, "drive": 0.9},
    "alif": {"tau_mem_ms": 20.0, "drive": 0.9, "adapt_tau_ms": 700.0, "adapt_strength": 0.15},
}
FAMILY_OPTIONS: dict[str, dict[str, object]] = {  # `dynamics:` per family: option -> default
    "deep": {"control_dt_s": 0.02},
    "rate": {"control_dt_s": 0.02, "noise_std": 0.05},
    "spiking": {"control_dt_s": 0.02, "substeps": 5, "tau_syn_ms": 5.0, "refractory_ms": 0.0, "readout_tau_ms": 20.0,
                "noise_std": 0.4, "threshold": 1.0, "surrogate_slope": 25.0},
}
RELAY_OPTIONS = {"kind": "onoff", "size": 32, "gain": 0.3}  # rate and spiking families
RELAY_KINDS = ("onoff", "signed")
INIT_OPTIONS = {"balance": False, "spectral_radius": None}  # rate family
PROJECTION_KEYS = ("pre", "post", "gain", "density", "mask", "delay", "sign")
TOP_KEYS = ("name", "description", "seed", "target_params", "dynamics", "relay", "init", "populations", "projections",
            "readout", "critic", "neuromodulation", "motor_cortex", "_target_")
RESERVED = {"obs"}


@dataclass(frozen=True)
class PopulationSpec:
    name: str
    model: str
    size: int | None  # units (None: from `share` and the circuit's target_params)
    share: float | None
    cell_type: str
    sign: int  # +1 E, -1 I, 0 unsigned
    region: str
    options: dict = field(default_factory=dict)  # the model's own (MODEL_KEYS), defaults filled in

    @property
    def family(self) -> str:
        return MODELS[self.model]

    def opt(self, key: str):
        return self.options[key]


@dataclass(frozen=True)
class ProjectionSpec:
    name: str
    pre: str  # "obs" or a population
    post: str
    gain: float = 1.0  # initial mean summed input per presynaptic unit x sqrt(n_pre) (spiking: x rheobase)
    density: float = 1.0  # fraction of pre -> post pairs connected (a fixed random mask from the seed)
    mask: str = "all"  # all | one_to_one | a .npy file of a [post, pre] 0/1 matrix
    delay: int = 0  # synaptic delay in control steps


@dataclass(frozen=True)
class CircuitSpec:
    name: str
    family: str
    populations: tuple[PopulationSpec, ...]
    projections: tuple[ProjectionSpec, ...]
    readout: tuple[str, ...]
    critic: tuple[str, ...] | None
    dynamics: dict
    relay: dict
    init: dict
    dopamine_level: float = 0.0
    dopamine_projections: dict = field(default_factory=dict)  # projection name -> gain
    description: str = ""
    target_params: int | None = None
    motor_cortex: tuple[str, ...] = ()  # populations or regions a Kawai-style motor-cortex lesion silences

    @property
    def motor_cortex_populations(self) -> list[str]:
        return [p.name for p in self.populations if p.name in self.motor_cortex or p.region in self.motor_cortex]

    def population(self, name: str) -> PopulationSpec:
        return next(p for p in self.populations if p.name == name)

    @property
    def input_projections(self) -> list[ProjectionSpec]:
        return [p for p in self.projections if p.pre == "obs"]

    @property
    def internal_projections(self) -> list[ProjectionSpec]:
        return [p for p in self.projections if p.pre != "obs"]

    def readout_reachable(self, lesioned) -> list[str]:
        """The readout populations a signal from the observation can still reach along projections when the
        populations in `lesioned` are silenced: none means the actor's output is a constant (its bias)
        whatever the rest of the circuit learns."""
        silenced = set(lesioned)
        reached, frontier = set(), ["obs"]
        while frontier:
            pre = frontier.pop()
            for p in self.projections:
                if p.pre == pre and p.post not in silenced and p.post not in reached:
                    reached.add(p.post)
                    frontier.append(p.post)
        return [r for r in self.readout if r in reached]

    def sign_of(self, name: str) -> int:
        return +1 if name == "obs" else self.population(name).sign


# ----------------------------------------------------------------------------------- loading
def builtin_names() -> list[str]:
    """The built-in specs, in the ladder's order of rising realism (then alphabetically)."""
    ladder = ["mlp", "lstm", "dale_rnn", "spiking_m1", "m1_bg"]
    found = sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
    return [n for n in ladder if n in found] + [n for n in found if n not in ladder]


def load(source) -> dict:
    """A spec mapping from a built-in name, a YAML file path, or a mapping (returned as a plain dict)."""
    import yaml

    if isinstance(source, dict):
        return _plain(source)
    text = str(source)
    path = Path(text)
    if text.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise ValueError(f"circuit spec file {text!r} not found")
    else:
        path = SPEC_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ValueError(f"unknown circuit {text!r}; valid: {', '.join(builtin_names())} or a path to a .yaml spec")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"circuit spec {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"circuit spec {path}: expected a mapping with populations and projections")
    data.pop("defaults", None)
    return data


def _plain(node) -> dict:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    import copy

    return copy.deepcopy(dict(node))


def merge(spec: dict, overrides: dict) -> dict:
    """`overrides` merged into `spec`; nested dicts merge, a dotted key (`populations.E.size`) reaches inside."""
    out = _plain(spec)
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        leaf = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = merge(node[leaf], value)
        else:
            node[leaf] = value
    return out


# -------------------------------------------------------------------------------- validation
def _number(where: str, key: str, value, kind=float, lo=None, hi=None, lo_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        what = "a number" if kind is float else "a whole number"
        raise ValueError(f"{where}: {key}={value!r} is invalid; valid: {what}")
    if (lo is not None and (value < lo or (lo_open and value == lo))) or (hi is not None and value > hi):
        rng = f"{'>' if lo_open else '>='} {lo}" if hi is None else f"in {'(' if lo_open else '['}{lo}, {hi}]"
        raise ValueError(f"{where}: {key}={value!r} is out of range; valid: {rng}")
    return float(value) if kind is float else int(value)


def _options(where: str, given: dict | None, defaults: dict) -> dict:
    given = dict(given or {})
    unknown = [k for k in given if k not in defaults]
    if unknown:
        raise ValueError(f"{where}: unknown option {unknown[0]!r}; valid: {', '.join(defaults) or 'none'}")
    out = dict(defaults)
    for key, value in given.items():
        default = defaults[key]
        if value is None or default is None:
            out[key] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {key}={value!r} is invalid; valid: true or false")
            out[key] = value
        elif isinstance(default, int):
            out[key] = _number(where, key, value, int, lo=0)
        elif isinstance(default, float):
            out[key] = _number(where, key, value, float)
        else:
            out[key] = str(value)
    return out


def _population(name: str, entry, circuit: str) -> PopulationSpec:
    where = f"circuit {circuit}: population {name}"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in RESERVED:
        raise ValueError(f"{where}: invalid name; a population name is a letter then letters, digits or _ "
                         f"(not {', '.join(sorted(RESERVED))})")
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping (model, size, sign, ...), got {entry!r}")
    model = entry.get("model")
    if model not in MODELS:
        raise ValueError(f"{where}: unknown neuron model {model!r}; valid: {', '.join(MODELS)}")
    valid = COMMON_KEYS + tuple(MODEL_KEYS[model])
    unknown = [k for k in entry if k not in valid]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} for a {model} population; valid: {', '.join(valid)}")
    size, share = entry.get("size"), entry.get("share")
    if (size is None) == (share is None):
        raise ValueError(f"{where}: give exactly one of size (units) or share (of target_params)")
    if size is not None:
        size = _number(where, "size", size, int, lo=1)
    if share is not None:
        share = _number(where, "share", share, float, lo=0, hi=1, lo_open=True)
    sign_text = str(entry.get("sign", "none" if MODELS[model] == "deep" else ""))
    if sign_text not in SIGNS:
        raise ValueError(f"{where}: sign {entry.get('sign')!r} is invalid; valid: E, I, none")
    sign = SIGNS[sign_text]
    if MODELS[model] == "deep" and sign != 0:
        raise ValueError(f"{where}: a {model} population is unsigned (sign: none); Dale's law needs a rate, lif "
                         "or alif population")
    if MODELS[model] != "deep" and sign == 0:
        raise ValueError(f"{where}: a {model} population obeys Dale's law; give sign: E or I")
    opts = _options(where, {k: v for k, v in entry.items() if k in MODEL_KEYS[model]}, MODEL_KEYS[model])
    if model == "rate":
        if opts["nonlinearity"] not in NONLINEARITIES:
            raise ValueError(f"{where}: unknown nonlinearity {opts['nonlinearity']!r}; valid: "
                             f"{', '.join(NONLINEARITIES)}")
        _number(where, "max_rate", opts["max_rate"], lo=0, lo_open=True)
        _number(where, "tau_ms", opts["tau_ms"], lo=0, lo_open=True)
    if model in ("lif", "alif"):
        _number(where, "tau_mem_ms", opts["tau_mem_ms"], lo=0, lo_open=True)
    if model == "alif":
        _number(where, "adapt_tau_ms", opts["adapt_tau_ms"], lo=0, lo_open=True)
        _number(where, "adapt_strength", opts["adapt_strength"], lo=0)
    if model == "dense":
        _number(where, "layers", opts["layers"], int, lo=1)
    default_type = {"dense": "tanh", "lstm": "LSTM"}.get(model, "neuron")
    return PopulationSpec(name, model, size, share, str(entry.get("cell_type", default_type)), sign,
                          str(entry.get("region", "none")), opts)


def _projection(name: str, entry, circuit: str, pops: dict[str, PopulationSpec], family: str) -> ProjectionSpec:
    where = f"circuit {circuit}: projection {name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping (pre, post, ...), got {entry!r}")
    unknown = [k for k in entry if k not in PROJECTION_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(PROJECTION_KEYS)}")
    for end in ("pre", "post"):
        if end not in entry:
            raise ValueError(f"{where}: missing {end}")
    pre, post = str(entry["pre"]), str(entry["post"])
    if pre not in pops and pre != "obs":
        raise ValueError(f"{where}: unknown population {pre!r}; valid: obs, {', '.join(pops)}")
    if post not in pops:
        raise ValueError(f"{where}: unknown population {post!r}; valid: {', '.join(pops)}")
    if "sign" in entry:
        declared = str(entry["sign"])
        if declared not in ("E", "I"):
            raise ValueError(f"{where}: sign {declared!r} is invalid; valid: E, I (or leave it out: the presynaptic "
                             "population's)")
        actual = +1 if pre == "obs" else pops[pre].sign
        if actual != SIGNS[declared]:
            what = {1: "excitatory (E)", -1: "inhibitory (I)", 0: "unsigned"}[actual]
            raise ValueError(f"{where}: sign {declared} contradicts its presynaptic population {pre}, which is {what} "
                             "(Dale's law: a projection's sign is its presynaptic cell type's)")
    if family == "deep":
        extra = [k for k in ("gain", "density", "mask") if k in entry]
        if extra:
            raise ValueError(f"{where}: {extra[0]} applies to rate and spiking populations; a dense/lstm projection "
                             "has pre, post and delay")
    gain = _number(where, "gain", entry.get("gain", 1.0), lo=0)
    density = _number(where, "density", entry.get("density", 1.0), lo=0, hi=1, lo_open=True)
    delay = _number(where, "delay", entry.get("delay", 0), int, lo=0)
    mask = str(entry.get("mask", "all"))
    if mask not in ("all", "one_to_one") and not mask.endswith(".npy"):
        raise ValueError(f"{where}: mask {mask!r} is invalid; valid: all, one_to_one, or a .npy file of a [post, pre] "
                         "0/1 matrix")
    if pre == "obs" and (delay or mask != "all"):
        raise ValueError(f"{where}: an input projection (pre: obs) takes gain and density only")
    if mask == "one_to_one" and pre != "obs" and pops[pre].size != pops[post].size:
        raise ValueError(f"{where}: mask one_to_one needs equal sizes ({pre} {pops[pre].size}, {post} {pops[post].size})")
    return ProjectionSpec(name, pre, post, gain, density, mask, delay)


def _check_cycles(circuit: str, pops: list[str], projections: list[ProjectionSpec]) -> list[str]:
    """Topological order of `pops` over the undelayed projections; a cycle is an error."""
    incoming = {p: {x.pre for x in projections if x.post == p and x.pre != "obs" and x.delay == 0 and x.pre != p}
                for p in pops}
    self_loops = [x for x in projections if x.pre == x.post and x.delay == 0]
    if self_loops:
        x = self_loops[0]
        raise ValueError(f"circuit {circuit}: projection {x.name} ({x.pre} -> {x.post}) is a loop with no delay; a "
                         "dense/lstm circuit computes each step feedforward, so give it delay: 1 or more")
    order, done = [], set()
    while len(order) < len(pops):
        ready = [p for p in pops if p not in done and incoming[p] <= done]
        if not ready:
            left = [p for p in pops if p not in done]
            cycle = _find_cycle(left, incoming)
            raise ValueError(f"circuit {circuit}: populations {' -> '.join(cycle)} form a cycle with no delay; a "
                             "dense/lstm circuit computes each step feedforward, so give one projection of the cycle "
                             "delay: 1 or more")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _find_cycle(left: list[str], incoming: dict[str, set]) -> list[str]:
    node, path = left[0], []
    while node not in path:
        path.append(node)
        node = next(p for p in incoming[node] if p in left)
    return path[path.index(node):] + [node]


def validate(data: dict) -> CircuitSpec:
    """A `CircuitSpec` from a spec mapping, or a one-line ValueError naming the entry at fault."""
    data = _plain(data)
    name = str(data.get("name", "")) or "unnamed"
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        hint = ""
        if any(k in data for k in ("n_exc", "units", "hidden", "core_size", "n_m1_exc")):
            hint = " (this is a pre-spec option: sizes are now populations.<name>.size)"
        raise ValueError(f"circuit {name}: unknown key {unknown[0]!r}{hint}; valid: {', '.join(TOP_KEYS[:-1])}")
    raw_pops = data.get("populations")
    if not isinstance(raw_pops, dict) or not raw_pops:
        raise ValueError(f"circuit {name}: populations must be a non-empty mapping of name -> population")
    pops = {str(k): _population(str(k), v, name) for k, v in raw_pops.items()}
    families = {p.family for p in pops.values()}
    if len(families) > 1:
        by = {f: [p.name for p in pops.values() if p.family == f] for f in sorted(families)}
        listed = "; ".join(f"{f}: " + ", ".join(v) for f, v in by.items())
        raise ValueError(f"circuit {name}: populations mix neuron families ({listed}); "
                         "one circuit uses one family: dense/lstm, rate, or lif/alif")
    family = families.pop()
    raw_proj = data.get("projections")
    if not isinstance(raw_proj, dict) or not raw_proj:
        raise ValueError(f"circuit {name}: projections must be a non-empty mapping of name -> projection")
    projs = [_projection(str(k), v, name, pops, family) for k, v in raw_proj.items()]
    seen = {}
    for x in projs:
        if (x.pre, x.post, x.delay) in seen:
            raise ValueError(f"circuit {name}: projections {seen[(x.pre, x.post, x.delay)]} and {x.name} both join "
                             f"{x.pre} -> {x.post} at delay {x.delay}; merge them")
        seen[(x.pre, x.post, x.delay)] = x.name
    if not any(x.pre == "obs" for x in projs):
        raise ValueError(f"circuit {name}: no projection from obs; the circuit would never see the observation")
    if family == "deep":
        _check_cycles(name, list(pops), projs)
        fed = {x.post for x in projs}
        unfed = [p for p in pops if p not in fed]
        if unfed:
            raise ValueError(f"circuit {name}: population {unfed[0]} receives no projection")
    else:
        for x in projs:
            if x.pre == x.post and x.mask == "one_to_one":
                raise ValueError(f"circuit {name}: projection {x.name}: one_to_one onto itself is an autapse, which "
                                 "this circuit excludes")
    readout = data.get("readout")
    readout = [readout] if isinstance(readout, str) else readout
    if not isinstance(readout, list) or not readout:
        raise ValueError(f"circuit {name}: readout must list the populations the actor head reads; valid: "
                         f"{', '.join(pops)}")
    critic = data.get("critic")
    critic = [critic] if isinstance(critic, str) else critic
    for key, names in (("readout", readout), ("critic", critic or [])):
        for n in names:
            if n not in pops:
                raise ValueError(f"circuit {name}: {key} names unknown population {n!r}; valid: {', '.join(pops)}")
        if len(set(names)) != len(names):
            raise ValueError(f"circuit {name}: {key} names a population twice")
    dynamics = _options(f"circuit {name}: dynamics", data.get("dynamics"), FAMILY_OPTIONS[family])
    if family == "spiking":
        if dynamics["substeps"] < 1:
            raise ValueError(f"circuit {name}: dynamics: substeps must be >= 1, got {dynamics['substeps']}")
        for key in ("tau_syn_ms", "readout_tau_ms", "threshold"):
            _number(f"circuit {name}: dynamics", key, dynamics[key], lo=0, lo_open=True)
        _number(f"circuit {name}: dynamics", "refractory_ms", dynamics["refractory_ms"], lo=0)
    _number(f"circuit {name}: dynamics", "control_dt_s", dynamics["control_dt_s"], lo=0, lo_open=True)
    if family != "deep" and "noise_std" in dynamics:
        _number(f"circuit {name}: dynamics", "noise_std", dynamics["noise_std"], lo=0)
    if family == "rate":
        for p in pops.values():
            if p.opt("tau_ms") < dynamics["control_dt_s"] * 1000:
                raise ValueError(f"circuit {name}: population {p.name}: tau_ms ({p.opt('tau_ms'):g}) must be >= the "
                                 f"control step ({dynamics['control_dt_s'] * 1000:g} ms)")
    if family == "deep":
        for key in ("relay", "init", "neuromodulation"):
            if data.get(key):
                raise ValueError(f"circuit {name}: {key} applies to rate and spiking circuits, not dense/lstm ones")
        relay, init = {}, {}
    else:
        relay = _options(f"circuit {name}: relay", data.get("relay"), RELAY_OPTIONS)
        if relay["kind"] not in RELAY_KINDS:
            raise ValueError(f"circuit {name}: relay: unknown kind {relay['kind']!r}; valid: {', '.join(RELAY_KINDS)}")
        if family == "spiking" and relay["kind"] != "onoff":
            raise ValueError(f"circuit {name}: relay: a spiking circuit's relay is onoff (nonnegative, Dale-consistent)")
        _number(f"circuit {name}: relay", "size", relay["size"], int, lo=1)
        init = _options(f"circuit {name}: init", data.get("init"), INIT_OPTIONS)
        if family == "spiking" and (init["balance"] or init["spectral_radius"] is not None):
            raise ValueError(f"circuit {name}: init applies to rate circuits; a spiking circuit's scale is its gains")
        if init["spectral_radius"] is not None:
            _number(f"circuit {name}: init", "spectral_radius", init["spectral_radius"], lo=0, lo_open=True)
    level, da_proj = 0.0, {}
    nm = data.get("neuromodulation") or {}
    if nm:
        if set(nm) - {"dopamine"}:
            raise ValueError(f"circuit {name}: neuromodulation: unknown modulator {sorted(set(nm) - {'dopamine'})[0]!r}; "
                             "valid: dopamine")
        da = nm.get("dopamine") or {}
        bad = set(da) - {"level", "projections"}
        if bad:
            raise ValueError(f"circuit {name}: neuromodulation.dopamine: unknown key {sorted(bad)[0]!r}; valid: level, "
                             "projections")
        level = _number(f"circuit {name}: neuromodulation.dopamine", "level", da.get("level", 0.0), lo=-1, hi=1)
        names = {x.name for x in projs}
        for pname, g in (da.get("projections") or {}).items():
            if pname not in names:
                raise ValueError(f"circuit {name}: neuromodulation.dopamine: unknown projection {pname!r}; valid: "
                                 f"{', '.join(x.name for x in projs if x.pre != 'obs')}")
            da_proj[str(pname)] = _number(f"circuit {name}: neuromodulation.dopamine", pname, g, lo=-1, hi=1)
    target = data.get("target_params")
    if target is not None:
        target = _number(f"circuit {name}", "target_params", target, int, lo=1)
    if target is None and any(p.size is None for p in pops.values()):
        shared = next(p.name for p in pops.values() if p.size is None)
        raise ValueError(f"circuit {name}: population {shared} gives a share of the parameter budget; set "
                         "target_params")
    motor = data.get("motor_cortex")
    if motor is None:  # default: the populations in a motor-cortex region
        motor = sorted({p.region for p in pops.values() if p.region in ("M1", "cortex", "motor_cortex")})
    motor = [motor] if isinstance(motor, str) else list(motor)
    regions = {p.region for p in pops.values()}
    for m in motor:
        if m not in pops and m not in regions:
            raise ValueError(f"circuit {name}: motor_cortex names {m!r}, neither a population nor a region; valid: "
                             f"{', '.join([*pops, *sorted(regions - {'none'})])}")
    return CircuitSpec(name, family, tuple(pops.values()), tuple(projs), tuple(readout),
                       tuple(critic) if critic else None, dynamics, relay, init, level, da_proj,
                       str(data.get("description", "")), target, tuple(motor))


def with_sizes(spec: CircuitSpec, sizes: dict[str, int], relay_size: int | None = None) -> CircuitSpec:
    """The same spec with these population sizes (and relay size)."""
    from dataclasses import replace

    pops = tuple(replace(p, size=sizes.get(p.name, p.size), share=None) for p in spec.populations)
    relay = {**spec.relay, "size": relay_size} if relay_size is not None and spec.relay else spec.relay
    return replace(spec, populations=pops, relay=relay)


def to_dict(spec: CircuitSpec) -> dict:
    """The mapping `validate` reads back into this spec (a YAML-ready dict: round trip)."""
    sign_text = {v: k for k, v in SIGNS.items()}
    pops = {}
    for p in spec.populations:
        entry = {"model": p.model}
        entry.update({"size": p.size} if p.size is not None else {"share": p.share})
        entry.update(sign=sign_text[p.sign], cell_type=p.cell_type, region=p.region, **p.options)
        pops[p.name] = entry
    projs = {x.name: {"pre": x.pre, "post": x.post, "delay": x.delay} if spec.family == "deep" else
             {"pre": x.pre, "post": x.post, "gain": x.gain, "density": x.density, "mask": x.mask, "delay": x.delay}
             for x in spec.projections}
    out = {"name": spec.name, "description": spec.description, "target_params": spec.target_params,
           "dynamics": dict(spec.dynamics), "populations": pops, "projections": projs, "readout": list(spec.readout),
           "critic": list(spec.critic) if spec.critic else None, "motor_cortex": list(spec.motor_cortex)}
    if spec.family != "deep":
        out.update(relay=dict(spec.relay), init=dict(spec.init))
        if spec.dopamine_projections:
            out["neuromodulation"] = {"dopamine": {"level": spec.dopamine_level,
                                                   "projections": dict(spec.dopamine_projections)}}
    return out
