"""Loads a profile from conf/ (with `extends`) and the credit policy into frozen, typed settings.

A wrong key or value fails here, naming the key and what is allowed (the CLI exits 2).
"""

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from transforms.features import FEATURE_NAMES
from transforms.policy import (
    SIGNAL_PREFIX,
    SIGNAL_WORD,
    Band,
    Bin,
    Challenger,
    Characteristic,
    Guardrails,
    LimitRules,
    Policy,
    Scorecard,
)

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
DEFAULT_PROFILE = CONF_DIR / "local.toml"
REASON_CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
SIGNAL_FEATURE = re.compile(rf"{re.escape(SIGNAL_PREFIX)}({SIGNAL_WORD})\.({SIGNAL_WORD})")


class ConfigError(Exception):
    """A setting is missing, unknown or out of range; the message names the key."""


@dataclass(frozen=True)
class Settings:
    profile: Path
    input_path: str
    output_path: str
    policy_path: Path
    spark_master: str
    spark_app_name: str
    spark_settings: tuple[tuple[str, str], ...]
    log_level: str
    policy: Policy


def load_settings(
    profile: Path | None = None, *, input_path: str | None = None, output_path: str | None = None
) -> Settings:
    """Reads the profile and its policy; --input/--output override the profile's paths."""
    profile = Path(profile or DEFAULT_PROFILE).resolve()
    merged = _read_profile(profile, seen=())
    paths = _table(merged, "paths", {"input", "output", "policy"})
    spark = _table(merged, "spark", {"master", "app_name", "settings"})
    run = _table(merged, "run", {"log_level"})
    _only(merged, {"paths", "spark", "run"}, "")
    settings_table = spark.get("settings", {})
    if not isinstance(settings_table, dict):
        raise ConfigError("spark.settings: must be a table of Spark settings")
    log_level = str(run.get("log_level", "INFO")).upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"run.log_level: {log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    policy_path = Path(_required(paths, "paths.policy"))
    return Settings(
        profile=profile,
        input_path=input_path or _required(paths, "paths.input"),
        output_path=output_path or _required(paths, "paths.output"),
        policy_path=policy_path,
        spark_master=str(spark.get("master", "")),
        spark_app_name=str(spark.get("app_name", "rerate")),
        spark_settings=tuple(sorted((str(k), str(v)) for k, v in settings_table.items())),
        log_level=log_level,
        policy=load_policy(policy_path),
    )


def _read_profile(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise ConfigError(f"extends: {path} extends itself through {seen}")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"profile {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    _resolve_paths(data, path.parent)
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data
    parent = _read_profile((path.parent / parent_name).resolve(), (*seen, path))
    return _merge(parent, data)


def _resolve_paths(data: dict[str, Any], folder: Path) -> None:
    """Relative paths are relative to the file that sets them; URIs (hdfs://, s3a://) stay."""
    paths = data.get("paths")
    if not isinstance(paths, dict):
        return
    for key, value in paths.items():
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            paths[key] = str((folder / value).resolve())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


ReadPolicyFile = Callable[[str], tuple[str, str]]
"""The text of a policy file the policy names (its challenger), and where it was read."""


def load_policy(path: Path) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"paths.policy: {path} does not exist") from None
    return policy_from_text(text, str(path), files_beside(Path(path)))


def files_beside(path: Path) -> ReadPolicyFile:
    """Reads a file a policy names, relative to the folder of the policy file."""

    def read(name: str) -> tuple[str, str]:
        named = (path.parent / name).resolve()
        try:
            return named.read_text(encoding="utf-8"), str(named)
        except OSError as e:
            raise ConfigError(f"{named} cannot be read: {e.strerror or e}") from None

    return read


def policy_from_text(text: str, where: str, read_file: ReadPolicyFile | None = None) -> Policy:
    """A policy file's text, validated as the champion's is; `where` names it in errors;
    `read_file` reads the challenger's file it names (None: a challenger is refused)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    _only(
        data,
        {"version", "limits", "strategy", "guardrails", "scorecard", "challenger", "signals"},
        "",
    )
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ConfigError("version: the policy needs a non-empty version string")
    scorecard = _scorecard(
        _table(
            data,
            "scorecard",
            {"base_score", "base_odds", "pdo", "min_score", "max_score", "characteristic"},
        )
    )
    return Policy(
        version=version,
        limits=_limit_rules(data),
        guardrails=_guardrails(
            _table(
                data,
                "guardrails",
                {
                    "max_reject_share",
                    "max_adverse_share",
                    "max_increase_share",
                    "volume_weeks",
                    "volume_months",
                    "volume_min_rows",
                    "volume_max_ratio",
                    "max_score_psi",
                    "max_total_limit_change",
                },
            )
        ),
        scorecard=scorecard,
        challenger=_challenger(data, version, read_file) if "challenger" in data else None,
        required_sources=_required_sources(data, scorecard),
    )


def _required_sources(data: dict[str, Any], scorecard: Scorecard) -> frozenset[str]:
    """`[signals.<source>] required = true`: the night waits for that source (exit 3) instead
    of scoring its accounts as missing. Only a source the scorecard reads can be named."""
    t = data.get("signals", {})
    if not isinstance(t, dict):
        raise ConfigError("signals: must be a table of sources, e.g. [signals.bureau]")
    used = {c.signal[0] for c in scorecard.signals()}
    required = set()
    for source, settings in t.items():
        key = f"signals.{source}"
        if source not in used:
            raise ConfigError(
                f"{key}: no characteristic scores a signal of {source!r} "
                f"(sources scored: {', '.join(sorted(used)) or 'none'})"
            )
        if not isinstance(settings, dict):
            raise ConfigError(f"{key}: must be a table, e.g. {{ required = true }}")
        _only(settings, {"required"}, key + ".")
        flag = settings.get("required", False)
        if not isinstance(flag, bool):
            raise ConfigError(f"{key}.required: {flag!r} must be true or false")
        if flag:
            required.add(source)
    return frozenset(required)


def _challenger(data: dict[str, Any], version: str, read_file: ReadPolicyFile | None) -> Challenger:
    """`[challenger]`: a second policy file deciding a share of the book, loaded and validated
    as the champion is; any fault in it stops here, never a silent run on the champion alone."""
    t = _table(data, "challenger", {"policy", "share", "salt"})
    name = _required(t, "challenger.policy")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("challenger.policy: the challenger's policy file, as a path")
    share = _decimal(t, "challenger.share")
    if not 0 < share <= 1:
        raise ConfigError(
            f"challenger.share: {share} must be above 0 and at most 1 (to run without a "
            "challenger, remove the [challenger] table)"
        )
    salt = _required(t, "challenger.salt")
    if not isinstance(salt, str) or not salt:
        raise ConfigError("challenger.salt: a non-empty string that fixes which accounts it takes")
    if read_file is None:
        raise ConfigError("challenger: a challenger's policy cannot name a challenger of its own")
    text, where = read_file(name)
    try:
        policy = policy_from_text(text, where)
    except ConfigError as e:
        raise ConfigError(f"challenger.policy ({where}): {e}") from None
    if policy.version == version:
        raise ConfigError(
            f"challenger.policy: its version {version!r} is the champion's; every row names the "
            "version that decided it, so the two must differ"
        )
    return Challenger(policy=policy, share=share, salt=salt, file=name)


def _limit_rules(data: dict[str, Any]) -> LimitRules:
    keys = {
        "limit_step",
        "min_limit",
        "max_limit",
        "suspend_dpd",
        "reinstate_after_days",
        "reinstate_ratio",
        "max_increase_ratio",
        "min_increase_ratio",
        "increase_cooldown_days",
        "new_account_wait_days",
        "dormant_days",
        "decrease_margin_points",
        "cash_out_days",
        "cash_out_utilization",
        "decrease_notice_days",
    }
    t = _table(data, "limits", keys)
    step = _money(t, "limits.limit_step", positive=True)
    low = _money(t, "limits.min_limit", positive=True)
    high = _money(t, "limits.max_limit", positive=True)
    for key, value in (("limits.min_limit", low), ("limits.max_limit", high)):
        if value % step:
            raise ConfigError(f"{key}: {value} is not a multiple of limits.limit_step ({step})")
    if low > high:
        raise ConfigError(f"limits.min_limit: {low} is above limits.max_limit ({high})")
    rules = LimitRules(
        limit_step=step,
        min_limit=low,
        max_limit=high,
        suspend_dpd=_int(t, "limits.suspend_dpd", low=1),
        reinstate_after_days=_int(t, "limits.reinstate_after_days", low=0),
        reinstate_ratio=_ratio(t, "limits.reinstate_ratio"),
        max_increase_ratio=_ratio(t, "limits.max_increase_ratio"),
        min_increase_ratio=_ratio(t, "limits.min_increase_ratio"),
        increase_cooldown_days=_int(t, "limits.increase_cooldown_days", low=0),
        new_account_wait_days=_int(t, "limits.new_account_wait_days", low=0),
        dormant_days=_int(t, "limits.dormant_days", low=1),
        decrease_margin_points=_int(t, "limits.decrease_margin_points", low=0),
        cash_out_days=_int(t, "limits.cash_out_days", low=0),
        cash_out_utilization=_ratio(t, "limits.cash_out_utilization"),
        decrease_notice_days=_int(t, "limits.decrease_notice_days", low=1),
        bands=_bands(data, step, low, high),
    )
    if rules.min_increase_ratio > rules.max_increase_ratio:
        raise ConfigError("limits.min_increase_ratio: above limits.max_increase_ratio")
    return rules


def _bands(data: dict[str, Any], step: Decimal, low: Decimal, high: Decimal) -> tuple[Band, ...]:
    strategy = _table(data, "strategy", {"band"})
    raw = strategy.get("band")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("strategy.band: at least one score band is required")
    bands = []
    for i, item in enumerate(raw):
        key = f"strategy.band[{i}]"
        _only(item, {"name", "min_score", "max_limit", "spend_multiple"}, key + ".")
        band = Band(
            name=str(_required(item, key + ".name")),
            min_score=_int(item, key + ".min_score", low=0),
            max_limit=_money(item, key + ".max_limit", positive=True),
            spend_multiple=_decimal(item, key + ".spend_multiple"),
        )
        if band.max_limit % step or not low <= band.max_limit <= high:
            raise ConfigError(
                f"{key}.max_limit: {band.max_limit} must be on the limit grid "
                f"within [{low}, {high}]"
            )
        if bands and band.min_score >= bands[-1].min_score:
            raise ConfigError(f"{key}.min_score: bands go best first, with falling min_score")
        if bands and band.max_limit > bands[-1].max_limit:
            raise ConfigError(f"{key}.max_limit: a worse band cannot support a higher limit")
        bands.append(band)
    if bands[-1].min_score != 0:
        raise ConfigError(
            f"strategy.band[{len(bands) - 1}].min_score: the last band must start "
            "at 0 so that every score has a band"
        )
    return tuple(bands)


def _guardrails(t: dict[str, Any]) -> Guardrails:
    g = Guardrails(
        max_reject_share=float(_ratio(t, "guardrails.max_reject_share")),
        max_adverse_share=float(_ratio(t, "guardrails.max_adverse_share")),
        max_increase_share=float(_ratio(t, "guardrails.max_increase_share")),
        volume_weeks=_int(t, "guardrails.volume_weeks", low=1),
        volume_months=_int(t, "guardrails.volume_months", low=0),
        volume_min_rows=_int(t, "guardrails.volume_min_rows", low=1),
        volume_max_ratio=_above_one(t, "guardrails.volume_max_ratio"),
        max_score_psi=_positive(t, "guardrails.max_score_psi"),
        max_total_limit_change=float(_ratio(t, "guardrails.max_total_limit_change")),
    )
    return g


def _above_one(table: dict[str, Any], key: str) -> float:
    value = _float(table, key)
    if value <= 1:
        raise ConfigError(f"{key}: {value} must be above 1 (a ratio to the usual level)")
    return value


def _positive(table: dict[str, Any], key: str) -> float:
    value = _float(table, key)
    if value <= 0:
        raise ConfigError(f"{key}: {value} must be positive")
    return value


def _scorecard(t: dict[str, Any]) -> Scorecard:
    base_odds = _float(t, "scorecard.base_odds")
    pdo = _float(t, "scorecard.pdo")
    if base_odds <= 0 or pdo <= 0:
        raise ConfigError("scorecard.base_odds and scorecard.pdo must be positive")
    raw = t.get("characteristic")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("scorecard.characteristic: at least one characteristic is required")
    characteristics = tuple(_characteristic(item, i) for i, item in enumerate(raw))
    features = [c.feature for c in characteristics]
    if len(set(features)) != len(features):
        raise ConfigError("scorecard.characteristic: a feature is binned twice")
    card = Scorecard(
        base_score=_int(t, "scorecard.base_score", low=0),
        base_odds=base_odds,
        pdo=pdo,
        min_score=_int(t, "scorecard.min_score", low=0),
        max_score=_int(t, "scorecard.max_score", low=1),
        characteristics=characteristics,
    )
    if card.min_score >= card.max_score:
        raise ConfigError("scorecard.min_score: must be below scorecard.max_score")
    return card


def _characteristic(item: dict[str, Any], i: int) -> Characteristic:
    key = f"scorecard.characteristic[{i}]"
    _only(
        item,
        {"feature", "label", "reason", "kind", "monotone", "bins", "missing", "max_age_days"},
        key + ".",
    )
    feature = str(_required(item, key + ".feature"))
    is_signal = feature.startswith(SIGNAL_PREFIX)
    if is_signal and not SIGNAL_FEATURE.fullmatch(feature):
        raise ConfigError(
            f"{key}.feature: {feature!r} is not signal:<source>.<name> in lower-case words, "
            "e.g. signal:bureau.score"
        )
    if not is_signal and feature not in FEATURE_NAMES:
        raise ConfigError(
            f"{key}.feature: {feature!r} is not a feature; allowed: {', '.join(FEATURE_NAMES)}, "
            "or signal:<source>.<name>"
        )
    key = f"scorecard.characteristic[{feature}]"
    max_age_days = _signal_age(item, key, is_signal)
    reason = _reason(item.get("reason"), key + ".reason")
    kind = item.get("kind")
    if kind not in ("risk", "engagement"):
        raise ConfigError(f"{key}.kind: {kind!r} is not 'risk' or 'engagement'")
    monotone = item.get("monotone", "none")
    if monotone not in ("increasing", "decreasing", "none"):
        raise ConfigError(f"{key}.monotone: {monotone!r} is not increasing, decreasing or none")
    if kind == "risk" and monotone == "none":
        raise ConfigError(f"{key}.monotone: a risk characteristic must be monotone")
    raw_bins = item.get("bins")
    if not isinstance(raw_bins, list) or not raw_bins:
        raise ConfigError(f"{key}.bins: at least one bin is required")
    bins = tuple(_bin(b, f"{key}.bins[{j}]", reason) for j, b in enumerate(raw_bins))
    edges = [b.below for b in bins]
    if edges[-1] is not None or any(e is None for e in edges[:-1]):
        raise ConfigError(
            f"{key}.bins: only the last bin, and it must, have no `below`, "
            "so that the bins cover every value"
        )
    if any(a >= b for a, b in zip(edges[:-2], edges[1:-1], strict=True)):
        raise ConfigError(f"{key}.bins: `below` edges must rise strictly")
    raw_missing = item.get("missing")
    if is_signal:
        _own_missing_reason(raw_missing, bins, key)
    if raw_missing is None:
        missing = Bin(below=None, log_odds=min(b.log_odds for b in bins), reason=reason)
    elif isinstance(raw_missing, dict):
        missing = _bin({**raw_missing}, key + ".missing", reason, edge_allowed=False)
    else:
        missing = Bin(below=None, log_odds=_number(raw_missing, key + ".missing"), reason=reason)
    steps = [b.log_odds for b in bins]
    if monotone == "increasing" and steps != sorted(steps):
        raise ConfigError(f"{key}.bins: monotone increasing, but points fall as {feature} grows")
    if monotone == "decreasing" and steps != sorted(steps, reverse=True):
        raise ConfigError(
            f"{key}.bins: monotone decreasing, but points rise as {feature} grows "
            "(more risk must never earn points)"
        )
    return Characteristic(
        feature=feature,
        label=str(item.get("label", feature)),
        reason=reason,
        kind=kind,
        monotone=monotone,
        bins=bins,
        missing=missing,
        max_age_days=max_age_days,
    )


def _signal_age(item: dict[str, Any], key: str, is_signal: bool) -> int | None:
    if not is_signal:
        if "max_age_days" in item:
            raise ConfigError(f"{key}.max_age_days: only a signal characteristic has an age limit")
        return None
    return _int(item, key + ".max_age_days", low=0)


def _own_missing_reason(raw_missing: Any, bins: tuple[Bin, ...], key: str) -> None:
    """A signal is missing for reasons of its own (no record, or a stale feed): the user is
    told that, not a reason about a value they do not have, so its missing bin names a reason
    no bin gives."""
    reason = raw_missing.get("reason") if isinstance(raw_missing, dict) else None
    if reason is None:
        raise ConfigError(
            f"{key}.missing: a signal needs its own missing bin, "
            '{ log_odds = ..., reason = "NO_..." }, with a reason code no bin gives'
        )
    if reason in {b.reason for b in bins}:
        raise ConfigError(f"{key}.missing.reason: {reason!r} is a bin's reason; name its own")


def _bin(item: Any, key: str, default_reason: str, edge_allowed: bool = True) -> Bin:
    if not isinstance(item, dict):
        raise ConfigError(f"{key}: a bin is a table {{ below = ..., log_odds = ... }}")
    _only(
        item, {"below", "log_odds", "reason"} if edge_allowed else {"log_odds", "reason"}, key + "."
    )
    below = item.get("below")
    return Bin(
        below=None if below is None else _number(below, key + ".below"),
        log_odds=_number(_required(item, key + ".log_odds"), key + ".log_odds"),
        reason=_reason(item.get("reason", default_reason), key + ".reason"),
    )


def _reason(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value or not set(value) <= REASON_CODE_CHARS:
        raise ConfigError(
            f"{key}: {value!r} is not an upper-case reason code like HIGH_UTILIZATION"
        )
    return value


def _table(data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: must be a table")
    _only(table, allowed, name + ".")
    return table


def _only(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key}: unknown setting; allowed here: {', '.join(sorted(allowed))}"
            )


def _required(table: dict[str, Any], key: str) -> Any:
    name = key.rsplit(".", 1)[-1]
    if name not in table:
        raise ConfigError(f"{key}: required setting is missing")
    return table[name]


def _int(table: dict[str, Any], key: str, low: int) -> int:
    value = _required(table, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{key}: {value!r} must be a whole number >= {low}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: {value!r} must be a finite number")
    return float(value)


def _float(table: dict[str, Any], key: str) -> float:
    return _number(_required(table, key), key)


def _decimal(table: dict[str, Any], key: str) -> Decimal:
    value = _required(table, key)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{key}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{key}: {value!r} must be a number >= 0")
    return number


def _money(table: dict[str, Any], key: str, positive: bool) -> Decimal:
    amount = _decimal(table, key)
    if amount != amount.quantize(Decimal("0.01")) or (positive and amount <= 0):
        raise ConfigError(
            f"{key}: {amount} must be a positive amount in yuan with at most 2 "
            'decimals, written as a string like "100.00"'
        )
    return amount.quantize(Decimal("0.01"))


def _ratio(table: dict[str, Any], key: str) -> Decimal:
    value = _decimal(table, key)
    if not 0 <= value <= 1:
        raise ConfigError(f"{key}: {value} must be a share between 0 and 1")
    return value
