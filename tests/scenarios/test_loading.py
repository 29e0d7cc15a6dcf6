import pytest

from scenarios.errors import ScenarioError
from scenarios.loading import deep_merge, load_scenario
from tests.conftest import REPO
from tests.scenarios.helpers import georgia_body, grid_scenario, write_scenario


def test_bundled_scenarios_validate():
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        assert scenario.name == path.stem


def test_extends_deep_merges_and_resolves_paths(tmp_path):
    base = grid_scenario(tmp_path, "base", k=3, description="3 territories")
    child = write_scenario(tmp_path, "child", {"extends": base.name, "territories": {"count": 2},
                                               "solver": {"seed": 7}})
    scenario = load_scenario(child)
    assert scenario.name == "child" and not scenario.description  # the base's would say 3 territories
    assert scenario.territories.count == 2
    assert scenario.solver.seed == 7 and scenario.solver.time_limit == 20  # kept from the base
    assert scenario.units.path == str(tmp_path / "units.gpkg")


def test_extends_cycle(tmp_path):
    write_scenario(tmp_path, "a", {"extends": "b.yaml"})
    write_scenario(tmp_path, "b", {"extends": "a.yaml"})
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(tmp_path / "a.yaml")


def test_unknown_key_named(tmp_path):
    path = grid_scenario(tmp_path, territory={"count": 2})
    with pytest.raises(ScenarioError, match="grid.yaml: territory: unknown key"):
        load_scenario(path)


def test_balance_needs_tolerance_or_bounds(tmp_path):
    path = grid_scenario(tmp_path, balance=[{"attribute": "pop"}])
    with pytest.raises(ScenarioError, match=r"grid.yaml: balance\[0\]: give either tolerance or min/max$"):
        load_scenario(path)


def test_deep_merge_replaces_lists():
    assert deep_merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}}


def test_null_switches_off_what_the_base_sets(tmp_path):
    """`balance: null` and `solver: null` in an extension: back to the defaults (no balance rules, default solver),
    not a type error; a null inside a block drops that key only."""
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": None}, "d": None}) == {"a": {"b": 1}}
    base = grid_scenario(tmp_path, "base", k=3)
    (tmp_path / "off.yaml").write_text("extends: base.yaml\nbalance: null\nsolver: null\n")
    off = load_scenario(tmp_path / "off.yaml")
    assert off.balance == [] and off.solver == type(off.solver)()
    assert load_scenario(base).balance != []


def test_schema_is_documented():
    """Every key of the schema appears in scenarios/README.md, and the README names no unknown section."""
    from scenarios.schema import Scenario

    doc = (REPO / "scenarios" / "README.md").read_text()

    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            yield prefix + name
            for arg in getattr(field.annotation, "__args__", (field.annotation,)):
                if hasattr(arg, "model_fields") and getattr(field.annotation, "__origin__", None) is not list:
                    yield from walk(arg, f"{prefix}{name}.")
                for inner in getattr(arg, "__args__", ()):  # list[Model] inside a union
                    if hasattr(inner, "model_fields"):
                        yield from walk(inner, f"{prefix}{name}[].")
            if getattr(field.annotation, "__origin__", None) is list:
                [inner] = field.annotation.__args__
                if hasattr(inner, "model_fields"):
                    yield from walk(inner, f"{prefix}{name}[].")

    missing = [key for key in walk(Scenario) if f"`{key}`" not in doc]
    assert not missing, f"undocumented scenario keys: {missing}"


def test_unquoted_numeric_ids_are_ids():
    """FIPS-like ids written without quotes (YAML reads them as numbers) are taken as their text."""
    import yaml

    raw = yaml.safe_load("territories: {count: 2, centres: [{unit: 13121}, {unit: 13089}], locked: {13067: T01}}")
    body = georgia_body(territories=raw["territories"])
    from scenarios.schema import Scenario

    t = Scenario.model_validate({"name": "s", **body}).territories
    assert [c.unit for c in t.centres] == ["13121", "13089"] and t.locked == {"13067": "T01"}


def test_leading_zeros_stay_and_a_key_given_twice_is_refused(tmp_path):
    """YAML 1.1 reads 06037 as the octal number 3103 and keeps the last of two equal keys: neither here."""
    path = tmp_path / "s.yaml"
    path.write_text("units: {path: u.gpkg, id: fips}\nterritories:\n  count: 2\n  locked:\n    06037: T01\n"
                    "    36061: T02\n")
    assert load_scenario(path).territories.locked == {"06037": "T01", "36061": "T02"}
    path.write_text("units: {path: u.gpkg, id: fips}\nterritories:\n  count: 2\n  locked:\n    06037: T01\n"
                    "    '06037': T02\n")
    with pytest.raises(ScenarioError, match=r"s.yaml line 6: '06037' is given twice in one block \(first on line 5\)"):
        load_scenario(path)


def test_a_centre_without_its_longitude_is_one_line_per_centre(tmp_path):
    """Not pydantic's union branches (literal['free'], list[function-after[...]]): the key as written."""
    path = write_scenario(tmp_path, "s", georgia_body(territories={"count": 2, "centres": [
        {"lat": 33.7}, {"unit": "13121"}]}))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == "s.yaml: territories.centres[0]: give either unit or both lat and lon"


def test_scenario_files_a_user_might_get_wrong_are_one_clear_line(tmp_path):
    base = grid_scenario(tmp_path, "base", k=3)
    cases = {
        "latin1": (b"extends: base.yaml\ndescription: R\xe9gion Sud\n", "not UTF-8 text (byte 0xe9 at position 33); save it as UTF-8"),
        "empty": (b"\n  \n", "the file is empty"),
        "tabs": (b"extends: base.yaml\nterritories:\n\tcount: 2\n", "line 3: not valid YAML; a tab character: indent with spaces"),
        "loose": (b"extends: base.yaml\nbalance:\n  - {attribute: pop, tolerance: 5}\n",
                  "balance[0].tolerance: Input should be less than 1 (tolerance: relative tolerance around the mean, 0.05 = "),
        "escape": (b"extends: base.yaml\nname: ../../elsewhere\n", "name: '../../elsewhere' names the run folder, so it cannot"),
        "noname": (b"extends: base.yaml\nname: ' '\n", "name: is empty; give a name"),
        "longname": (b"extends: base.yaml\nname: " + b"x" * 101 + b"\n", "name: is 101 bytes long; at most 100"),
        "nodir": (b"extends: base.yaml\noutput: {dir: ''}\n", "output.dir: is empty"),
        "nobase": (b"extends: missing.yaml\n", "nobase.yaml: extends: "),
        "endless": (b"extends: base.yaml\nsolver: {time_limit: .inf}\n", "solver.time_limit: Input should be a finite number"),
        # switches and counts are strict: pydantic's lax mode read "no" as false and true as 1
        "quotedno": (b"extends: base.yaml\ncontiguity: 'no'\n", "contiguity: Input should be a valid boolean"),
        "truecount": (b"extends: base.yaml\nterritories: {count: true}\n", "territories.count: Input should be a valid integer"),
        "newline": (b"extends: base.yaml\nname: \"a\\nb\"\n", "name: 'a?b' names the run folder"),
        "compare": (b"extends: base.yaml\n", "name: 'compare' is the folder `tplan compare` writes to"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / f"{name}.yaml").write_bytes(text)
        with pytest.raises(ScenarioError) as err:
            load_scenario(tmp_path / f"{name}.yaml")
        assert expected in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value), name
    with pytest.raises(ScenarioError, match="is a folder; give the scenario's .yaml file"):
        load_scenario(tmp_path)
    assert load_scenario(base).name == "base"


def test_a_damaged_run_index_is_set_aside_and_rebuilt(tmp_path):
    from scenarios.run_index import sync

    (tmp_path / "index.sqlite").write_text("garbage")
    rows, dropped, added = sync(tmp_path)
    assert rows == [] and (tmp_path / "index.sqlite.damaged").read_text() == "garbage"
