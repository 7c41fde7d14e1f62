"""Pool rule sets are data: loading, validation, lookup by year or id, and ``netkort rules``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coverage.cli import app
from coverage.errors import RuleSetError
from coverage.rules import RULES_DIR, get_rule_set, load_rule_set, load_rule_sets

VALID_2024 = (RULES_DIR / "2024-2025.toml").read_text(encoding="utf-8")


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A writable copy of the repository's rule files."""
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def test_four_rounds_load_in_order_with_domain_thresholds():
    sets = load_rule_sets()
    assert [r.id for r in sets] == ["2016-2020", "2021", "2022-2023", "2024-2025"]
    by_id = {r.id: r for r in sets}

    old = by_id["2016-2020"]
    assert (old.fixed.down, old.fixed.up, old.fixed.comparison, old.fixed.combine) == (
        10, 2, "le", "or"
    )  # fmt: skip
    assert old.mobile is None and old.blue is None
    assert old.zone.allowed == ["Landzone", "Sommerhusområde"]
    assert "2018" in old.interpretation.en and "byzone" in old.interpretation.da.lower()

    blue = by_id["2021"]
    assert (blue.fixed.down, blue.fixed.up, blue.fixed.combine) == (10, 2, "or")
    assert blue.blue is not None
    assert (blue.blue.above, blue.blue.down_max, blue.blue.max_project_share) == (10, 20, 0.05)
    assert blue.mobile is not None and blue.mobile.role == "points"
    assert blue.mobile_ceiling is None

    mid = by_id["2022-2023"]
    assert (mid.fixed.down, mid.fixed.up, mid.fixed.comparison) == (30, 5, "le")
    assert mid.mobile_ceiling is None and mid.zone.conditional == []

    new = by_id["2024-2025"]
    assert (new.fixed.down, new.fixed.up, new.fixed.comparison) == (100, None, "lt")
    assert new.mobile_ceiling is not None
    assert (new.mobile_ceiling.down, new.mobile_ceiling.comparison) == (600, "lt")
    assert new.zone.allowed == ["Landzone", "Sommerhusområde"]
    assert new.zone.conditional_zones == ("Byzone",)
    assert "2.000" in new.zone.conditional[0].condition.da

    for r in sets:
        assert r.sources and all(s.url.startswith("https://") for s in r.sources)
        assert len(r.interpretation.da) > 200 and len(r.interpretation.en) > 200
        assert Path(r.path).name == f"{r.id}.toml"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (None, "2024-2025"),
        ("", "2024-2025"),
        ("latest", "2024-2025"),
        ("2025", "2024-2025"),
        (2024, "2024-2025"),
        ("2024-2025", "2024-2025"),
        ("2023", "2022-2023"),
        ("2022", "2022-2023"),
        ("2021", "2021"),
        ("2016", "2016-2020"),
        ("2018-2019", "2016-2020"),
        (" 2020 ", "2016-2020"),
    ],
)
def test_rule_sets_are_found_by_year_or_id(key, expected):
    assert get_rule_set(key).id == expected


@pytest.mark.parametrize("key", ["2026", "2015", "2020-2021", "next year", "20-25"])
def test_unknown_rule_set_names_the_known_ones(key):
    with pytest.raises(RuleSetError) as info:
        get_rule_set(key)
    message = str(info.value)
    assert repr(key.strip()) in message or key in message
    assert "2016-2020, 2021, 2022-2023, 2024-2025" in message


def test_next_years_rules_are_a_new_file_not_code(rules_dir):
    text = VALID_2024.replace('id = "2024-2025"', 'id = "2026"')
    text = text.replace("first_year = 2024", "first_year = 2026")
    text = text.replace("last_year = 2025", "last_year = 2026").replace("down = 100", "down = 150")
    (rules_dir / "2026.toml").write_text(text, encoding="utf-8")
    assert get_rule_set(None, rules_dir).id == "2026"
    assert get_rule_set("2026", rules_dir).fixed.down == 150
    assert get_rule_set("2025", rules_dir).id == "2024-2025"


def _broken(rules_dir: Path, old: str, new: str) -> Path:
    assert old in VALID_2024, old
    path = rules_dir / "2024-2025.toml"
    path.write_text(VALID_2024.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("down = 100\n", "", ["'fixed.down' is missing"]),
        ("down = 100\n", 'down = "hundred"\n', ["'fixed.down'", "number", "'hundred'"]),
        ("down = 100\n", "down = -5\n", ["'fixed.down'", "greater than 0"]),
        ('comparison = "lt"', 'comparison = "below"', ["'fixed.comparison'", "'le' or 'lt'"]),
        (
            'allowed = ["Landzone", "Sommerhusområde"]',
            'allowed = ["Landzone", "Bymidte"]',
            ["'zone.allowed.1'", "unknown zone 'Bymidte'", "Byzone, Landzone, Sommerhusområde"],
        ),
        ('zone = "Byzone"', 'zone = "Centrum"', ["zone.conditional.0.zone", "'Centrum'"]),
        ('id = "2024-2025"', 'id = "2024-2026"', ["does not match the years", "'2024-2025'"]),
        ("[fixed]\n", "[fixed]\nthreshold = 3\n", ["unknown key 'fixed.threshold'"]),
        ('role = "ceiling"\n', "", ["'mobile.role' is missing"]),
        ("[fixed]\ndown = 100\n", "[fixed]\ndown = 100\nup = 20\n", ["'combine'", "required"]),
        ('allowed = ["Landzone", "Sommerhusområde"]', "allowed = []", ["'zone.allowed'"]),
        ("[interpretation]", "[interpretation_]", ["'interpretation' is missing"]),
    ],
)
def test_malformed_rule_file_is_refused_with_file_key_and_expectation(
    rules_dir, old, new, expected
):
    path = _broken(rules_dir, old, new)
    with pytest.raises(RuleSetError) as info:
        load_rule_sets(rules_dir)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, message


def test_zone_names_are_canonicalised_and_not_both_allowed_and_conditional(rules_dir):
    path = _broken(
        rules_dir,
        'allowed = ["Landzone", "Sommerhusområde"]',
        'allowed = ["landzone", "SOMMERHUSOMRAADE"]',
    )
    assert load_rule_set(path).zone.allowed == ["Landzone", "Sommerhusområde"]
    path = _broken(rules_dir, 'allowed = ["Landzone", "Sommerhusområde"]', 'allowed = ["Byzone"]')
    with pytest.raises(RuleSetError, match="Byzone is both allowed and conditional"):
        load_rule_set(path)


def test_invalid_toml_overlapping_years_and_empty_folder(rules_dir, tmp_path):
    path = _broken(rules_dir, "[fixed]", "[fixed")
    with pytest.raises(RuleSetError, match=r"2024-2025\.toml: not valid TOML"):
        load_rule_sets(rules_dir)
    path.write_text(VALID_2024, encoding="utf-8")
    overlap = VALID_2024.replace('id = "2024-2025"', 'id = "2025-2026"')
    overlap = overlap.replace("first_year = 2024", "first_year = 2025")
    overlap = overlap.replace("last_year = 2025", "last_year = 2026")
    (rules_dir / "2025-2026.toml").write_text(overlap, encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"years 2025-2026 overlap .*2024-2025\.toml"):
        load_rule_sets(rules_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuleSetError, match="no rule files"):
        load_rule_sets(empty)


def test_netkort_rules_lists_thresholds_and_interpretation():
    runner = CliRunner()
    result = runner.invoke(app, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [r["id"] for r in listed] == ["2016-2020", "2021", "2022-2023", "2024-2025"]
    newest = listed[-1]
    assert newest["fixed"] == {"down": 100.0, "comparison": "lt"}
    assert newest["mobile"]["down"] == 600.0
    assert newest["zone"]["conditional"][0]["zone"] == "Byzone"
    assert "600 Mbit/s" in newest["interpretation"]["en"]
    assert listed[1]["blue"]["down_max"] == 20.0
    assert newest["path"] == "data/rules/2024-2025.toml"

    table = runner.invoke(app, ["rules"])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())  # rich wraps at the console width
    for expected in ("2016-2020", "2021", "2022-2023", "2024-2025", "< 100 down", "< 600 down"):
        assert expected in text
    assert "cannot be shown that the address is under the ceiling" in text
    assert (
        "https://digst.dk/tele/bredbaandsudrulning/bredbaandspuljen/den-almindelige-ordning" in text
    )
