"""The `rerate` command: one click group, a subcommand per job. Exit codes are the contract's.

`main()` is the console script. Everything else works on the click group alone, so a caller
that already has a SparkSession (the tests, a notebook) can run any command in its own process:
`CliRunner().invoke(cli, args, obj=Runtime(spark))`. Either way an unexpected error becomes
exit 1 with one line on stderr, and a usage error exit 2, through the same code.
"""

import logging
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import click

from jobs.config import ConfigError, Settings, load_settings
from jobs.outcome import ExitCode, Stop

log = logging.getLogger("rerate")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OUR_LOGGERS = ("rerate", "jobs", "transforms")


class Runtime:
    """What the commands of one invocation share: the SparkSession, made once from the first
    command's settings unless the caller hands one in; and, if the caller hands one in, a
    policy object (a draft: give it its own version) that replaces the profile's."""

    def __init__(self, spark=None, policy=None):
        self._spark = spark
        self.policy = policy

    def spark(self, settings: Settings):
        if self._spark is None:
            from jobs.session import start_spark  # imported late: --help needs no JVM

            self._spark = start_spark(settings)
        return self._spark


class RerateGroup(click.Group):
    """Turns a failure no command expected into the contract's exit 1 and one line on stderr."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Stop as stop:  # a command ending as the contract says: its code, one line
            click.echo(f"rerate {ctx.invoked_subcommand}: {stop.reason}", err=True)
            ctx.exit(stop.code)
        except Exception as e:  # noqa: BLE001 - the scheduler needs exit 1, the operator one line
            click.echo(f"rerate: unexpected failure: {type(e).__name__}: {e}", err=True)
            log.debug("failure", exc_info=True)
            ctx.exit(ExitCode.FAILURE)


class IsoDate(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-10-31", param, ctx)


DATE = IsoDate()


def _settings(ctx: click.Context) -> Settings:
    params = ctx.find_root().params
    sub = ctx.params
    try:
        settings = load_settings(
            params.get("conf"), input_path=sub.get("input_path"), output_path=sub.get("output_path")
        )
    except ConfigError as e:
        click.echo(f"rerate: configuration error: {e}", err=True)
        sys.exit(ExitCode.USAGE)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(settings.log_level)
    policy = ctx.find_object(Runtime).policy
    return settings if policy is None else replace(settings, policy=policy)


def _spark(settings: Settings):
    return click.get_current_context().find_object(Runtime).spark(settings)


def paths_options(func):
    func = click.option("--output", "output_path", help="Output root; overrides the profile.")(func)
    return click.option("--input", "input_path", help="Input root; overrides the profile.")(func)


@click.group(cls=RerateGroup)
@click.option(
    "--conf",
    type=click.Path(path_type=Path),
    default=None,
    help="Profile to load (default: conf/local.toml).",
)
@click.pass_context
def cli(ctx: click.Context, conf: Path | None) -> None:
    """Nightly credit re-rating: behaviour score, credit limit and a diff of changes."""
    ctx.ensure_object(Runtime)


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="The run date D.")
@click.option("--dry-run", is_flag=True, help="Compute and check, publish nothing.")
@click.option(
    "--accept-anomaly",
    metavar="TEXT",
    help="Publish over a guardrail, recording why (a person's decision).",
)
@click.option(
    "--full-recompute",
    is_flag=True,
    help="Fold the whole ledger again instead of the previous run's state (audits, repairs).",
)
@click.option("--quiet", is_flag=True, help="Print only the outcome line.")
@paths_options
@click.pass_context
def run(
    ctx,
    run_date: date,
    dry_run: bool,
    accept_anomaly: str | None,
    full_recompute: bool,
    quiet: bool,
    input_path,
    output_path,
) -> None:
    """The nightly re-rating for date D."""
    from jobs.commands.run import run_nightly

    if accept_anomaly is not None and not accept_anomaly.strip():
        raise click.UsageError("--accept-anomaly needs the reason, in words")
    settings = _settings(ctx)
    spark = _spark(settings)
    result = run_nightly(
        spark,
        settings,
        run_date,
        dry_run=dry_run,
        accept_anomaly=accept_anomaly,
        full_recompute=full_recompute,
    )
    _print_outcome(result, quiet)
    sys.exit(result.exit_code)


def _print_outcome(result, quiet: bool) -> None:
    from jobs.reporting.console import render_checks

    r = result.report
    line = (
        f"rerate run {r['run_date']}: {r['status']} (exit {r['exit_code']}) "
        f"in {r['duration_seconds']} s"
    )
    if result.exit_code != ExitCode.PUBLISHED:
        click.echo(f"{line}: {r['reason']}", err=True)
        if not quiet and r["checks"]:
            click.echo(render_checks(r["checks"]), err=True)
        click.echo(f"  what to do: {r['what_to_do']}", err=True)
        click.echo(f"  report: {result.report_path}", err=True)
        return
    click.echo(line)
    if quiet:
        return
    from jobs.reporting.console import render_run_summary

    click.echo(render_run_summary(r, result.report_path))


@cli.command()
@click.option("--start", type=DATE, required=True, help="The first date of the range.")
@click.option("--end", type=DATE, required=True, help="The last date of the range.")
@click.option(
    "--rerun",
    is_flag=True,
    help="Run every date of the range, even those already published (e.g. after a policy change).",
)
@paths_options
@click.pass_context
def backfill(ctx, start: date, end: date, rerun: bool, input_path, output_path) -> None:
    """Every date from START to END in order, resuming after the last published one; stops at
    the first date that does not publish, with its exit code."""
    from jobs.commands.backfill import backfill as run_range
    from jobs.commands.backfill import stop_message

    settings = _settings(ctx)
    done = run_range(_spark(settings), settings, start, end, rerun=rerun, echo=click.echo)
    if done.stopped:
        click.echo(stop_message(done.stopped, done.not_run), err=True)
    sys.exit(done.exit_code)


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="The run date D.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@paths_options
@click.pass_context
def validate(ctx, run_date: date, fmt: str, input_path, output_path) -> None:
    """The input checks of a run alone, with their findings (exit 0, 3 or 4)."""
    import json

    from jobs.commands.validate import validate_inputs
    from jobs.reporting.console import render_findings

    settings = _settings(ctx)
    code, findings = validate_inputs(_spark(settings), settings, run_date)
    if fmt == "json":
        click.echo(json.dumps(findings, indent=2, default=str))
    else:
        verdict = "input passes its checks" if code == 0 else findings["reason"]
        click.echo(f"rerate validate {run_date}: {verdict} (exit {int(code)})")
        click.echo(render_findings(findings))
    sys.exit(code)


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="The newest published run.")
@click.option("--reason", required=True, help="Why the run is withdrawn, in words.")
@paths_options
@click.pass_context
def rollback(ctx, run_date: date, reason: str, input_path, output_path) -> None:
    """Withdraws the newest published run D and publishes its reversal diff."""
    from jobs.commands.rollback import rollback as rollback_run
    from jobs.output.lock import OutputLocked

    if not reason.strip():
        raise click.UsageError("--reason needs the reason, in words")
    settings = _settings(ctx)
    try:
        done = rollback_run(_spark(settings), settings, run_date, reason)
    except OutputLocked as e:
        click.echo(f"rerate rollback {run_date}: another run holds the output: {e}", err=True)
        sys.exit(ExitCode.FAILURE)
    for line in done.recovered:
        click.echo(f"  {line}")
    click.echo(
        f"rerate rollback {run_date}: withdrawn; {done.reversal_rows:,} reversal rows at "
        f"{done.reversal_path}"
    )
    current = done.current_run.isoformat() if done.current_run else "none (no earlier run)"
    click.echo(f"  the current published run is now: {current}")


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="A published run date.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@paths_options
@click.pass_context
def report(ctx, run_date: date, fmt: str, input_path, output_path) -> None:
    """A published run's figures: changes and reasons, score and limit distributions, band
    migration; also written as a page, runs/run_date=D/report.html."""
    import json

    from jobs.commands.report import report as report_run
    from jobs.reporting.views import report_text

    settings = _settings(ctx)
    figures, page_error = report_run(_spark(settings), settings, run_date)
    if page_error:
        click.echo(f"rerate report: {page_error}", err=True)
    if fmt == "json":
        click.echo(json.dumps(figures, indent=2, default=str))
        return
    click.echo(report_text(figures))
    if figures["page"]:
        click.echo(f"\n  page: {figures['page']}")


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="A published run date.")
@click.option("--user", "user_id", type=int, required=True, help="The account's user_id.")
@paths_options
@click.pass_context
def explain(ctx, run_date: date, user_id: int, input_path, output_path) -> None:
    """One account's decision on D: features, points, score, reasons, each limit step."""
    from jobs.commands.explain import explain as explain_account

    settings = _settings(ctx)
    click.echo(explain_account(_spark(settings), settings, run_date, user_id))


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="A published run date.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@paths_options
@click.pass_context
def replay(ctx, run_date: date, fmt: str, input_path, output_path) -> None:
    """Recompute a published run from its kept policy and inputs; compare row by row.
    Exit 0 identical, 6 differs, 3 an input it recorded is gone or changed. --input: where the
    recorded ledger is now (default: where the run read it)."""
    import json

    from jobs.commands.replay import replay as replay_run
    from jobs.commands.replay import replay_text

    settings = _settings(ctx)
    result = replay_run(_spark(settings), settings, run_date, input_path)
    click.echo(json.dumps(result.as_json(), indent=2) if fmt == "json" else replay_text(result))
    if not result.identical:
        sys.exit(ExitCode.DIFFERS)


@cli.command()
@click.option("--date", "run_date", type=DATE, required=True, help="A published run date.")
@click.option(
    "--policy",
    "draft",
    type=click.Path(path_type=Path),
    required=True,
    help="The draft policy file to decide D with.",
)
@click.option("--into", required=True, help="Where the draft's tables go (not in the output).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@paths_options
@click.pass_context
def simulate(ctx, run_date: date, draft: Path, into: str, fmt: str, input_path, output_path):
    """Decide the published run D again with a draft policy; compare it with the champion's.
    Writes DIR/comparison.json and the draft's tables under DIR; publishes nothing."""
    import json

    from jobs.commands.simulate import simulate as simulate_run
    from jobs.reporting.comparison import comparison_text

    settings = _settings(ctx)
    comparison = simulate_run(_spark(settings), settings, run_date, draft, into, input_path)
    click.echo(json.dumps(comparison, indent=2) if fmt == "json" else comparison_text(comparison))


@cli.group()
def policy() -> None:
    """The credit policy in force."""


@policy.command("show")
@click.pass_context
def policy_show(ctx) -> None:
    """The scorecard (with its scaling) and the limit strategy, as tables."""
    from jobs.commands.policy import show_policy

    click.echo(show_policy(_settings(ctx)))


@cli.command()
@click.option("--users", type=click.IntRange(min=1), required=True, help="Accounts to make.")
@click.option("--days", type=click.IntRange(min=1), required=True, help="Days of ledger.")
@click.option("--end-date", type=DATE, required=True, help="The last ledger day.")
@click.option("--seed", type=int, default=1, show_default=True)
@paths_options
@click.pass_context
def generate(
    ctx, users: int, days: int, end_date: date, seed: int, input_path, output_path
) -> None:
    """Writes synthetic ledgers in the input layout, at the input path."""
    from jobs.commands.generate import generate as generate_ledgers

    settings = _settings(ctx)
    counts = generate_ledgers(
        _spark(settings),
        input_path=settings.input_path,
        users=users,
        days=days,
        end=end_date,
        seed=seed,
    )
    click.echo(f"generated {users:,} accounts, {days} days to {end_date} at {settings.input_path}")
    for ledger, rows in counts.items():
        click.echo(f"  {ledger}: {rows:,} rows")


def main() -> None:
    """The console script: logs to stderr, then the group (which exits with the contract's code)."""
    logging.basicConfig(stream=sys.stderr, format=LOG_FORMAT)
    cli.main(prog_name="rerate", obj=Runtime())


if __name__ == "__main__":
    main()
