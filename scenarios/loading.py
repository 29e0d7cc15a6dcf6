"""Read a scenario file: YAML, `extends:` inheritance with deep merge, paths made absolute, schema check."""

from __future__ import annotations

import copy
from importlib.util import find_spec
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario

PATH_KEYS = (("units", "path"), ("units", "split", "path"), ("adjacency", "edges"), ("adjacency", "remove"),
             ("distances", "matrix"), ("reps", "path"), ("alignment", "path"), ("accounts", "path"), ("coverage", "data", "path"))
PACKAGE_SCHEME = "package://"


class ScenarioLoader(yaml.SafeLoader):
    """YAML as a scenario needs it: a key given twice in one mapping is an error (PyYAML keeps the last, so
    `13001: A` then `13001: B` locked the unit to B without a word), and a number written with a leading
    zero stays text (YAML 1.1 reads the FIPS code 06037 as the octal number 3103)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            key = str(self.construct_object(key_node, deep=True))
            if key in seen:
                raise DuplicateKey(key, key_node.start_mark.line + 1, seen[key])
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if len(text) > 1 and text[0] == "0" and text.isdigit():
            return text  # an id with its leading zeros, not an octal number
        return super().construct_yaml_int(node)


ScenarioLoader.add_constructor("tag:yaml.org,2002:int", ScenarioLoader.construct_yaml_int)


class DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first: int):
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


def read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder; give the scenario's .yaml file")
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path.name}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at position {err.start}); "
                            "save it as UTF-8") from None
    if not text.strip():
        raise ScenarioError(f"{path.name}: the file is empty; a scenario needs at least units: and territories: "
                            "(see scenarios/README.md)")
    try:
        data = yaml.load(text, Loader=ScenarioLoader)
    except DuplicateKey as dup:
        raise ScenarioError(f"{path.name} line {dup.line}: '{dup.key}' is given twice in one block (first on line "
                            f"{dup.first}); keep one") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        lines = text.splitlines()
        tab = mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]
        fix = "a tab character: indent with spaces" if tab else "check indentation and colons"
        raise ScenarioError(f"{path.name}{where}: not valid YAML; {fix}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path.name}: a scenario must be a mapping of keys, not {type(data).__name__}")
    return data


def resolve_path(value: str, base: Path) -> str:
    """Make a data path absolute: relative to the scenario file, or inside an installed package."""
    if value.startswith(PACKAGE_SCHEME):
        package, _, inner = value[len(PACKAGE_SCHEME):].partition("/")
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ScenarioError(f"{value}: package '{package}' is not installed; install it or give a file path")
        return str(Path(next(iter(spec.submodule_search_locations))) / inner)
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override wins key by key; mappings merge recursively, lists and values are replaced, and a key set to null is
    dropped (switched off: back to its default, so `balance: null` means no balance rules, as `balance: []` does)."""
    out = copy.deepcopy(base)
    for key, val in override.items():
        if val is None:
            out.pop(key, None)
        elif isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_raw(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The merged mapping of a scenario and the scenarios it extends, with absolute data paths."""
    path = path.resolve()
    if path in _chain:
        raise ScenarioError(f"{path.name}: 'extends' forms a cycle ({' -> '.join(p.name for p in _chain + (path,))})")
    data = read_yaml(path)
    for *sections, key in PATH_KEYS:
        block = data
        for section in sections:
            block = block.get(section) if isinstance(block, dict) else None
        if isinstance(block, dict) and isinstance(block.get(key), str):
            block[key] = resolve_path(block[key], path.parent)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{path.name}: extends must be a file name")
    if not (path.parent / parent).is_file():
        raise ScenarioError(f"{path.name}: extends: {path.parent / parent}: file not found; fix the path (relative to "
                            f"{path.name}'s folder)")
    base = load_raw((path.parent / parent), _chain + (path,))
    base.pop("name", None)  # a name belongs to its own file; runs of an extension go to its own folder
    base.pop("description", None)  # as does a description ("10 territories" said of a 12-territory option)
    return deep_merge(base, data)


def format_validation(name: str, err: ValidationError) -> str:
    """One `file: key.path: message` line per problem (keys as in the file: `territories.centres[1]`).
    Where a key takes one of several forms (`centres: free` or a list), only the form given is reported."""
    problems = err.errors()
    # A value in one form's shape (a list of centres) is reported against that form only: the other form's
    # complaint ("Input should be 'free'") is noise. A value in no form's shape gets every form's complaint.
    inside = [p for p in problems if any(_is_tag(part) for part in p["loc"][:-1])]
    if inside:
        problems = [p for p in problems if p in inside or not _is_tag(p["loc"][-1])]
    lines = []
    for problem in problems:
        loc = _key_path(problem["loc"]) or "(top)"
        msg = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against scenarios/README.md"
        elif problem["type"] == "missing":
            msg = "required key is missing"
        elif problem["type"] != "value_error" and (meaning := _description(problem["loc"])):
            msg = f"{msg} ({loc.rsplit('.', 1)[-1]}: {meaning})"  # tolerance: 5 -> "... (tolerance: ..., 0.05 = ±5%)"
        line = f"{name}: {loc}: {msg}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def _description(loc) -> str | None:
    """The schema's description of the key at `loc` (what its value means), or None."""
    model, meaning = Scenario, None
    for part in loc:
        if isinstance(part, int) or _is_tag(part):
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        meaning, model = fields[part].description, _model_in(fields[part].annotation)
    return meaning


def _model_in(annotation) -> type | None:
    """The pydantic model a field holds (inside list[...], ... | None), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg)) is not None), None)


def _is_tag(part) -> bool:
    """pydantic's name for a branch of a union (`list[...]`, `literal['free']`), not a key."""
    return isinstance(part, str) and ("[" in part or "(" in part)


def _key_path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_tag(part):
            out += f".{part}" if out else str(part)
    return out


def load_scenario(path: Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, merge and validate a scenario file (with `overrides` laid over it, e.g. a sweep point)."""
    path = Path(path)
    raw = load_raw(path)
    raw.setdefault("name", path.stem)
    if overrides:
        raw = deep_merge(raw, overrides)
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_validation(path.name, err)) from None
