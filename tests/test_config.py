"""Settings load once, typed; a wrong key or value fails naming the key."""

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.config import ConfigError, load_policy, load_settings

CONF = Path(__file__).resolve().parent.parent / "conf"


def test_the_local_profile_extends_base_and_loads_the_policy():
    s = load_settings(CONF / "local.toml")
    assert s.spark_master == "local[*]"
    assert ("spark.sql.session.timeZone", "UTC") in s.spark_settings
    assert s.input_path.endswith("data/sample/input")
    assert s.policy.limits.min_limit == 500 and s.policy.limits.limit_step == 100
    assert s.policy.version


def test_input_and_output_override_the_profile():
    s = load_settings(CONF / "local.toml", input_path="/x/in", output_path="/x/out")
    assert (s.input_path, s.output_path) == ("/x/in", "/x/out")


def policy_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (CONF / "policy.toml").read_text()
    assert old in text
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old,new,message",
    [
        ('limit_step = "100.00"', 'limit_stepp = "100.00"', "limits.limit_stepp: unknown setting"),
        (
            'min_limit = "500.00"',
            'min_limit = "550.00"',
            "limits.min_limit: 550.00 is not a multiple",
        ),
        ("suspend_dpd = 30", "suspend_dpd = -1", "limits.suspend_dpd"),
        ('max_increase_ratio = "0.50"', 'max_increase_ratio = "1.5"', "limits.max_increase_ratio"),
        (
            "{ below = 8, log_odds = -0.6 },",
            "{ below = 8, log_odds = 0.9 },",
            "characteristic[current_dpd].bins: monotone decreasing",
        ),
        (
            "  { log_odds = -3.0 },",
            "  { below = 90, log_odds = -3.0 },",
            "characteristic[current_dpd].bins: only the last bin",
        ),
        ('feature = "utilization"', 'feature = "utilisation"', "'utilisation' is not a feature"),
        (
            'reason = "HIGH_UTILIZATION"',
            'reason = "high utilization"',
            "not an upper-case reason code",
        ),
        ("min_score = 0\n", "min_score = 10\n", "the last band must start at 0"),
        ("volume_max_ratio = 1.8", "volume_max_ratio = 0.8", "guardrails.volume_max_ratio"),
        ("max_score_psi = 0.25", "max_score_psi = 0", "guardrails.max_score_psi"),
        ("volume_weeks = 4", "volume_week = 4", "guardrails.volume_week: unknown setting"),
    ],
)
def test_a_bad_policy_fails_at_load_naming_the_key(tmp_path, old, new, message):
    with pytest.raises(ConfigError) as e:
        load_policy(policy_with(tmp_path, old, new))
    assert message in str(e.value)


def test_an_unknown_profile_key_is_named(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(f'extends = "{CONF / "base.toml"}"\n[spark]\nmastr = "local[1]"\n')
    with pytest.raises(ConfigError, match="spark.mastr: unknown setting"):
        load_settings(profile)


def with_challenger(tmp_path: Path, table: str, challenger_text: str | None = None) -> Path:
    """The champion with a [challenger] table, beside a challenger file (by default the
    champion's own under another version)."""
    champion = (CONF / "policy.toml").read_text()
    if challenger_text is None:
        challenger_text = champion.replace('version = "2026.12-1"', 'version = "2026.12-2"')
    (tmp_path / "drafts").mkdir(exist_ok=True)
    (tmp_path / "drafts" / "next.toml").write_text(challenger_text)
    path = tmp_path / "policy.toml"
    path.write_text(champion + "\n[challenger]\n" + table)
    return path


def test_a_challenger_loads_from_beside_the_policy_file(tmp_path):
    table = 'policy = "drafts/next.toml"\nshare = 0.10\nsalt = "pilot-2026"\n'
    policy = load_policy(with_challenger(tmp_path, table))
    c = policy.challenger
    assert (c.file, str(c.share), c.salt, c.policy.version) == (
        "drafts/next.toml",
        "0.1",
        "pilot-2026",
        "2026.12-2",
    )
    assert [cell for cell, _ in policy.cells()] == ["champion", "challenger"]
    assert policy.of_cell("challenger") is c.policy and policy.of_cell(None) is policy


GOOD_TABLE = 'policy = "drafts/next.toml"\nshare = 0.10\nsalt = "s"\n'


@pytest.mark.parametrize(
    "table,challenger_text,message",
    [
        ('policy = "drafts/next.toml"\nshare = 0\nsalt = "s"\n', None, "challenger.share: 0"),
        ('policy = "drafts/next.toml"\nshare = 1.5\nsalt = "s"\n', None, "challenger.share"),
        ('policy = "drafts/next.toml"\nshare = 0.1\n', None, "challenger.salt: required"),
        ('policy = "drafts/gone.toml"\nshare = 0.1\nsalt = "s"\n', None, "gone.toml cannot be"),
        (GOOD_TABLE + "shares = 2\n", None, "challenger.shares: unknown setting"),
        (GOOD_TABLE, (CONF / "policy.toml").read_text(), "is the champion's"),
        (
            GOOD_TABLE,
            (CONF / "policy.toml")
            .read_text()
            .replace('version = "2026.12-1"', 'version = "x"')
            .replace("suspend_dpd = 30", "suspend_dpdd = 30"),
            "challenger.policy (",
        ),
        (
            GOOD_TABLE,
            (CONF / "policy.toml").read_text().replace('version = "2026.12-1"', 'version = "x"')
            + '\n[challenger]\npolicy = "next.toml"\nshare = 0.1\nsalt = "t"\n',
            "cannot name a challenger of its own",
        ),
    ],
)
def test_a_bad_challenger_stops_the_load_naming_the_key(tmp_path, table, challenger_text, message):
    with pytest.raises(ConfigError) as e:
        load_policy(with_challenger(tmp_path, table, challenger_text))
    assert message in str(e.value)
    if "suspend_dpdd" in (challenger_text or ""):
        assert "limits.suspend_dpdd: unknown setting" in str(e.value)


def test_the_shipped_draft_loads_and_differs_from_the_champion_in_its_raise_cap_only():
    champion = load_policy(CONF / "policy.toml")
    draft = load_policy(CONF / "draft-cautious-raises.toml")
    assert draft.version != champion.version and draft.challenger is None
    assert draft.limits.max_increase_ratio == Decimal("0.25")
    assert (
        dataclasses.replace(
            draft,
            version=champion.version,
            limits=dataclasses.replace(draft.limits, max_increase_ratio=Decimal("0.50")),
        )
        == champion
    )
