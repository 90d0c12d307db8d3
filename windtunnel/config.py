"""The hydra config tree inside this package (`windtunnel/conf/`): composing it, checking overrides,
instantiating `_target_`s, and parsing the commands' `key=value` options.

Every mistake a user can make on the command line becomes a `UsageError` with one line that names
what was wrong and what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.config import UsageError

CONF_DIR = Path(__file__).resolve().parent / "conf"
CIRCUIT_CONF_DIR = Path(__file__).resolve().parents[1] / "circuits" / "conf"  # the circuit/ group (pkg://circuits.conf)
SEARCH_PATH = ["pkg://circuits.conf"]  # as config.yaml's hydra.searchpath
_user_dirs: list[Path] = []  # config roots holding users' own circuit specs (`circuit=path/to/spec.yaml`)

__all__ = ["CONF_DIR", "CIRCUIT_CONF_DIR", "UsageError", "config_groups", "group_file", "circuit_overrides",
           "check_overrides", "compose", "instantiate", "parse_value", "Option", "parse_options"]


def _roots() -> list[Path]:
    return [CONF_DIR, CIRCUIT_CONF_DIR, *_user_dirs]


def config_groups() -> dict[str, list[str]]:
    """Config groups (subfolders of the config roots) and the options each offers."""
    groups: dict[str, list[str]] = {}
    for root in _roots():
        for d in sorted(root.iterdir()):
            if d.is_dir() and not d.name.startswith((".", "_", "hydra")):
                groups.setdefault(d.name, [])
                groups[d.name] = sorted(set(groups[d.name]) | {p.stem for p in d.glob("*.yaml")})
    return dict(sorted(groups.items()))


def group_file(group: str, option: str) -> Path:
    """The YAML file of a group option, in whichever config root holds it."""
    for root in reversed(_roots()):
        path = root / group / f"{option}.yaml"
        if path.is_file():
            return path
    raise UsageError(f"unknown {group} {option!r}; valid: {', '.join(config_groups().get(group, []))}")


def _spec_root(path: Path) -> Path:
    """A config root holding a copy of the spec file at `circuit/<stem>.yaml`, named by the content's hash in
    the user's cache (so a sweep that used the file resumes after the file moved or changed)."""
    import hashlib
    import os
    import tempfile

    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "windtunnel" / "circuit-specs"
    for base in (cache, Path(tempfile.gettempdir()) / "windtunnel-circuit-specs"):
        root = base / digest
        target = root / "circuit" / f"{path.stem}.yaml"
        try:
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(data)
                os.replace(tmp, target)
            return root
        except OSError:
            continue
    raise UsageError(f"circuit={path}: cannot stage the spec for hydra (no writable cache or temporary folder)")


def circuit_overrides(overrides: list[str]) -> list[str]:
    """The circuit's overrides made composable.

    `circuit=path/to/my_circuit.yaml` (also inside a sweep's comma list) becomes `circuit=my_circuit` with
    the file's copy on hydra's search path, so a user's own spec composes like a built-in. A key inside
    the spec (`circuit.projections.GPi_thalamus.density=0.5`) may name an option the YAML leaves at its
    default: it is added (`++`), and the spec's own validation (`circuits.spec`) names any mistake."""
    out, changed = [], False
    for ov in overrides:
        key, sep, value = ov.partition("=")
        if key.startswith("circuit.") and sep:
            out.append(f"++{ov}")
            continue
        if key != "circuit" or not sep or ".yaml" not in value and ".yml" not in value:
            out.append(ov)
            continue
        names = []
        for item in value.split(","):
            if not item.endswith((".yaml", ".yml")):
                names.append(item)
                continue
            path = Path(item).expanduser()
            if not path.is_file():
                raise UsageError(f"circuit={item}: no such spec file (give a built-in name, e.g. "
                                 f"{', '.join(config_groups()['circuit'][:3])}, or a path to a .yaml spec)")
            stem = path.stem
            if (CIRCUIT_CONF_DIR / "circuit" / f"{stem}.yaml").is_file() and path.resolve() != \
                    (CIRCUIT_CONF_DIR / "circuit" / f"{stem}.yaml").resolve():
                raise UsageError(f"circuit={item}: the file name {stem!r} is a built-in circuit's; rename your spec")
            root = _spec_root(path)
            clash = [d for d in _user_dirs if d != root and (d / "circuit" / f"{stem}.yaml").exists()]
            if clash:
                raise UsageError(f"circuit={item}: another spec file named {stem}.yaml is in this command; give each "
                                 "spec file its own name")
            if root not in _user_dirs:
                _user_dirs.append(root)
            names.append(stem)
            changed = True
        out.append(f"circuit={','.join(names)}")
    if changed:
        out = [o for o in out if not o.startswith("hydra.searchpath=")]
        roots = ",".join([*SEARCH_PATH, *(f"file://{d}" for d in _user_dirs)])
        out.append(f"hydra.searchpath=[{roots}]")
    return out


def _split(override: str) -> tuple[str, str]:
    if "=" not in override:
        raise UsageError(f"argument {override!r} is not of the form key=value")
    key, value = override.split("=", 1)
    return key, value


def check_overrides(overrides: list[str]) -> None:
    """Reject unknown group options and unknown keys with the valid choices named."""
    from omegaconf import OmegaConf

    groups = config_groups()
    for ov in overrides:
        key, value = _split(ov)
        if key.startswith(("+", "~", "hydra")):
            continue
        if key in groups and value not in groups[key]:
            raise UsageError(f"unknown {key} {value!r}; valid: {', '.join(groups[key])}")
    # keys inside the groups the overrides choose
    chosen = [ov for ov in overrides if _split(ov)[0] in groups or ov.startswith("hydra.searchpath=")]
    base = _compose_raw(chosen)
    for ov in overrides:
        key, _ = _split(ov)
        if key.startswith(("+", "~", "hydra")) or key in groups:
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        if node is None or not OmegaConf.is_dict(node) or leaf not in node:
            where = f"under {parent!r}" if parent and node is not None else "at the top level"
            valid = ", ".join(str(k) for k in node.keys()) if OmegaConf.is_dict(node) else "none"
            raise UsageError(f"unknown config key {key!r}; valid keys {where}: {valid}")


def _compose_raw(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        raise UsageError(" ".join(lines[:2]) or type(exc).__name__) from exc


def compose(overrides: list[str]):
    """The resolved config for these overrides (hydra's compose API, no run dir)."""
    overrides = circuit_overrides(overrides)
    check_overrides(overrides)
    return _compose_raw(overrides)


def instantiate(node, **kwargs):
    """hydra's instantiate, with the target's own ValueError surfaced as a one-line UsageError."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError):
            raise UsageError(str(cause)) from cause
        raise


def parse_value(text: str):
    """A command-line value as YAML: `4` -> 4, `true` -> True, `[a,b]` -> ['a', 'b'], `x` -> 'x'."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot parse value {text!r}: {exc}") from exc


@dataclass(frozen=True)
class Option:
    """One `key=value` option of a command that works on runs (evaluate, record, lesion, compare).

    kind: ``int`` (whole number >= `minimum`), ``float``, ``bool`` (true | false), ``str``, ``path``,
    ``list`` (``[a,b]`` or one value), ``choice`` (one of `choices`). A default of None means unset."""

    name: str
    kind: str
    default: object
    help: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    required: bool = False

    def parse(self, text: str):
        value = parse_value(text)
        if value is None and not self.required:
            return None
        bad = f"{self.name} must be {self.describe()}, got {text!r}"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(bad)
            if self.minimum is not None and value < self.minimum:
                raise UsageError(bad)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(bad)
            value = float(value)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise UsageError(bad)
        elif self.kind == "list":
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif self.kind == "choice":
            if str(value) not in self.choices:
                raise UsageError(f"unknown {self.name} {text!r}; valid: {', '.join(self.choices)}")
            value = str(value)
        else:  # str, path
            value = text
        return value

    def describe(self) -> str:
        return {"int": f"a whole number >= {self.minimum}" if self.minimum is not None else "a whole number",
                "float": "a number", "bool": "true or false", "list": "a list [a,b,...]", "str": "text",
                "path": "a path", "choice": " | ".join(self.choices)}[self.kind]


def parse_options(args: list[str], options: list[Option], positional: str | None = None) -> dict:
    """`[<positional>] key=value ...` -> {name: value}, every value checked against its `Option`.

    The first argument may give the `positional` option without its key (`evaluate runs/x` is
    `evaluate run=runs/x`). Unknown keys, bad values and missing required options raise a
    `UsageError` naming the option and what is valid."""
    by_name = {o.name: o for o in options}
    values = {o.name: o.default for o in options}
    given: set[str] = set()
    for i, a in enumerate(args):
        if "=" not in a:
            if i == 0 and positional is not None:
                key, text = positional, a
            else:
                raise UsageError(f"argument {a!r} is not of the form key=value")
        else:
            key, text = a.split("=", 1)
        if key not in by_name:
            raise UsageError(f"unknown option {key!r}; valid: {', '.join(by_name)}")
        if key in given:
            raise UsageError(f"option {key!r} given twice")
        given.add(key)
        values[key] = by_name[key].parse(text)
    for o in options:
        if o.required and values[o.name] in (None, []):
            raise UsageError(f"{o.name} is required ({o.help})")
    return values
