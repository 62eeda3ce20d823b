"""The `jobbridge` command: tokens, migrations, worker processes, the local system, replays."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from pathlib import Path

from shared.config import CONSOLE, SERVICES, ConfigError, load_settings


def _fail(message: str) -> int:
    print(f"jobbridge: {message}", file=sys.stderr)
    return 2


def cmd_token(args) -> int:
    from shared.auth import issue_token

    settings = load_settings("tool")
    try:
        token = issue_token(
            secret=settings.secret,
            role=args.role,
            sub=args.sub,
            regions=args.region or [],
            employer_id=args.employer_id,
            ttl_s=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    except ValueError as exc:
        return _fail(str(exc))
    print(token)
    return 0


def cmd_migrate(args) -> int:
    from shared.db import check_database, make_engine, migrate

    settings = load_settings(args.service)
    engine = make_engine(settings.database_url)
    try:
        check_database(engine)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        return _fail(f"{args.service}: database unreachable ({exc.__class__.__name__}): {str(exc).splitlines()[0][:200]}")
    finally:
        engine.dispose()
    migrate(args.service, settings.database_url, args.revision)
    return 0


def _console_accounts(env=None):
    """The console's accounts, its database brought up to date first."""
    from services.console.accounts import HASHER, TEST_HASHER, Accounts
    from shared.db import make_engine, make_session_factory, migrate

    settings = load_settings(CONSOLE, env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(CONSOLE, settings.database_url)
    hasher = TEST_HASHER if settings.environment == "test" else HASHER
    return Accounts(make_session_factory(make_engine(settings.database_url)), hasher=hasher)


def cmd_user(args) -> int:
    """Console accounts: add, disable, reset (passwords are argon2id hashes; every change is audited)."""
    from services.console.accounts import AccountError

    accounts = _console_accounts()
    try:
        if args.action == "add":
            if not args.password:
                return _fail("user add needs --password")
            user = accounts.add(username=args.username, password=args.password, role=args.role,
                                regions=args.region or [], employer_id=args.employer_id)
            print(f"user {user.username} ({user.role}) added")
        elif args.action == "disable":
            accounts.disable(args.username)
            print(f"user {args.username} disabled; its sessions are closed")
        else:
            if not args.password:
                return _fail("user reset needs --password")
            accounts.reset(args.username, args.password)
            print(f"user {args.username}: new password set, account unlocked, sessions closed")
    except AccountError as exc:
        return _fail(str(exc))
    return 0


def cmd_worker(args) -> int:
    module = importlib.import_module(f"services.{args.service}.consumer")
    module.main(only=args.only)
    return 0


def cmd_worker_health(args) -> int:
    """Exit 0 when the worker's heartbeat file is fresh (and, with --ready, every loop reached its broker)."""
    from shared import health

    path = Path(args.file) if args.file else health.health_file(args.service)
    healthy, why = health.check(path, max_age_s=args.max_age, ready=args.ready)
    print(f"{args.service} worker {why}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


def cmd_replay(args) -> int:
    """Send a service's recent outbox rows again, so that consumers can rebuild their read models."""
    from datetime import UTC, datetime, timedelta

    from shared.bus.outbox import requeue

    settings = load_settings(args.service)
    bootstrap = importlib.import_module(f"services.{args.service}.bootstrap")
    container = bootstrap.build(settings)
    since = None if args.all else datetime.now(UTC) - timedelta(hours=args.hours)
    count = requeue(container.factory, container.tables["outbox"], since=since)
    print(f"{count} events of {args.service} queued to be sent again")
    return 0


def _stack(data_dir: Path):
    from shared.devstack import Stack

    env = dict(os.environ)
    env.setdefault("JOBBRIDGE_ENV", "development")
    return Stack(data_dir=data_dir, env=env)


def cmd_up(args, *, foreground: bool) -> int:
    from shared import demo_loader
    from shared.auth import issue_token
    from shared.devstack import default_console_port, default_ports, stop_recorded

    data_dir = Path(os.environ.get("JOBBRIDGE_DATA_DIR", "data")).resolve()
    stop_recorded(data_dir)
    stack = _stack(data_dir)
    stopping = {"now": False}

    def _interrupt(signum, _frame):
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            stack.bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
            print(f"using the Kafka cluster at {stack.bootstrap}")
        elif int(os.environ.get("JOBBRIDGE_BROKERS") or 1) > 1:
            brokers = int(os.environ["JOBBRIDGE_BROKERS"])
            first = int(os.environ.get("JOBBRIDGE_BROKER_PORT") or 9092)
            stack.start_cluster(brokers, ports=[first + i for i in range(brokers)],
                                store_port=int(os.environ.get("JOBBRIDGE_S3_PORT") or 9000))
            print(f"{brokers} brokers (Tansu, sharing the S3 store on 127.0.0.1:{stack.store_port}) on {stack.bootstrap}")
        else:
            stack.start_broker(int(os.environ.get("JOBBRIDGE_BROKER_PORT") or 9092))
            print(f"broker (Tansu, memory only) on {stack.bootstrap}")
        stack.start_services(ports=default_ports())
        settings = load_settings("tool", stack.env)
        token = issue_token(secret=settings.secret, role="admin", sub="demo-admin", ttl_s=7 * 24 * 3600,
                            issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        if not args.no_demo:
            loaded = demo_loader.load_once(stack, token=token, data_dir=data_dir)
            if loaded:
                print(f"demo data loaded: {loaded}")
        stack.start_console(default_console_port())
        _print_console(stack, token, demo=not args.no_demo)
        for service in SERVICES:
            print(f"{service:<10} {stack.url(service)}   (openapi: {stack.url(service)}/openapi.json)")
        print(f"admin token (7 days):\n{token}")
    except BaseException as exc:  # noqa: BLE001 - whatever stops start-up, nothing may be left running
        stack.stop()
        if isinstance(exc, KeyboardInterrupt):
            return 130
        return _fail(f"could not start: {exc}")
    if not foreground:
        print("running in the background; `make down` stops it")
        return 0
    print("Ctrl-C stops everything")
    try:
        while not stopping["now"]:
            for proc in list(stack.procs):
                if proc.popen.poll() is not None:
                    print(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}", file=sys.stderr)
                    stopping["now"] = True
            time.sleep(0.5)
    finally:
        print("stopping…")
        stack.stop()
        print("stopped")
    return 0


def _demo_employer_id(stack, token: str) -> str | None:
    import json
    import urllib.request

    req = urllib.request.Request(f"{stack.url('intake')}/vacancies?region=4109&per_page=1",  # noqa: S310
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback URL we built
            items = json.loads(resp.read()).get("items") or []
    except OSError:
        return None
    return items[0]["employer_id"] if items else None


def _print_console(stack, token: str, *, demo: bool) -> None:
    """The console first, with the demo accounts (one per role) a new user signs in with."""
    print(f"console    {stack.url('console')}   <- open this in a browser")
    settings = load_settings("tool", stack.env)
    if not demo or settings.is_production:
        return
    from services.console.demo import ensure_demo_accounts

    accounts = _console_accounts(stack.service_env("console"))
    made = ensure_demo_accounts(accounts, _demo_employer_id(stack, token))
    print("demo accounts (development only):")
    for a in made:
        print(f"  {a['username']:<12} / {a['password']}   ({a['role']}{', ' + ','.join(a['regions']) if a['regions'] else ''})")


def cmd_down(_args) -> int:
    from shared.devstack import stop_recorded

    data_dir = Path(os.environ.get("JOBBRIDGE_DATA_DIR", "data")).resolve()
    stopped = stop_recorded(data_dir)
    print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
    return 0


def cmd_rotate_keys(_args) -> int:
    """Re-encrypt intake's personal data under the first key of JOBBRIDGE_PII_KEY (services/intake/keys.py)."""
    from services.intake.adapters.vault import Vault
    from services.intake.keys import rotate_keys
    from shared.db import make_engine

    settings = load_settings("intake")
    vault = Vault(settings.pii_key)
    if not vault.rotating:
        print("jobbridge: JOBBRIDGE_PII_KEY holds one key; values are re-encrypted under it where needed", file=sys.stderr)
    engine = make_engine(settings.database_url)
    try:
        report = rotate_keys(engine, vault)
    except ValueError as exc:
        return _fail(f"rotate-keys: {exc}")
    finally:
        engine.dispose()
    print(f"rotate-keys: {report.workers} workers and {report.employers} employers re-encrypted in "
          f"{report.passes} passes; {report.left} left (changed during every pass)")
    return 0 if report.left == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobbridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="print a signed access token")
    p.add_argument("--role", required=True, choices=["admin", "caseworker", "coordinator", "employer", "manager"])
    p.add_argument("--region", action="append", help="GB/T 2260 code prefix (repeatable)")
    p.add_argument("--employer-id")
    p.add_argument("--sub")
    p.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("user", help="console accounts: add, disable or reset a user")
    p.add_argument("action", choices=["add", "disable", "reset"])
    p.add_argument("--username", required=True)
    p.add_argument("--password", help="at least 8 characters (add, reset)")
    p.add_argument("--role", choices=["admin", "caseworker", "coordinator", "employer", "manager"], default="caseworker")
    p.add_argument("--region", action="append", help="GB/T 2260 code prefix (repeatable)")
    p.add_argument("--employer-id")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("migrate", help="bring a service's database schema up to date")
    p.add_argument("service", choices=(*SERVICES, CONSOLE))
    p.add_argument("--revision", default="head")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", help="run a service's consumer and outbox relay")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--only", choices=["consumer", "relay"])
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("worker-health", help="liveness/readiness of a worker process (exit 0 healthy, 1 not)")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--ready", action="store_true", help="also require every loop to have reached the broker")
    p.add_argument("--max-age", type=float, default=60.0, help="seconds without a heartbeat that mean stuck")
    p.add_argument("--file", help="the heartbeat file (default: JOBBRIDGE_HEALTH_FILE or the data folder's)")
    p.set_defaults(func=cmd_worker_health)

    p = sub.add_parser("replay", help="send a service's outbox again so consumers rebuild their read models")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("--hours", type=int, default=72)
    p.add_argument("--all", action="store_true", help="every row still in the outbox")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("rotate-keys", help="re-encrypt personal data under the first key of JOBBRIDGE_PII_KEY")
    p.set_defaults(func=cmd_rotate_keys)

    p = sub.add_parser("run", help="start the local system in the foreground (Ctrl-C stops it)")
    p.add_argument("--no-demo", action="store_true")
    p.set_defaults(func=lambda a: cmd_up(a, foreground=True))

    p = sub.add_parser("up", help="start the local system in the background")
    p.add_argument("--no-demo", action="store_true")
    p.set_defaults(func=lambda a: cmd_up(a, foreground=False))

    p = sub.add_parser("down", help="stop the system started by `up`")
    p.set_defaults(func=cmd_down)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        return _fail(f"configuration: {exc}")


if __name__ == "__main__":
    sys.exit(main())
