"""``park firms load|add|list|disable`` (services/ticketing/cli.py) against the real broker
and ticketing's database: each registration provisions the firm's broker identity before
the firm becomes routable, a second load changes nothing and says so, a disabled firm is
shut out of the broker and stays disabled.

Broker users are global: the firm ids here are unique to the run; users are deleted at
teardown.
"""

import uuid
from pathlib import Path

import amqp
import nameko
import pytest
import yaml
from typer.testing import CliRunner

from services.ticketing.domain.firm_directory import FirmId
from services.ticketing.provisioning import FirmBroker, firm_dev_password
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.declare import declare_topology
from shared.messaging.identities import amqp_uri_as
from shared.messaging.management import ManagementClient
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology
from shared.tooling.cli import app
from shared.tooling.migrate import upgrade
from tests.support.broker import get_messages

ROOT = Path(__file__).resolve().parents[2]
PARK = "aux-shangjie"
runner = CliRunner()


class Firms:
    """A vhost with the park's topology, a migrated ticketing database, a firms file of
    firms unique to this run, and ``park(...)`` running the CLI on them."""

    def __init__(self, amqp_uri: str, database_url: str, tmp_path: Path):
        self.amqp_uri = amqp_uri
        topology = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
        declare_topology(topology, amqp_uri)
        upgrade(database_url, ROOT / "services" / "ticketing" / "migrations")
        self.broker = FirmBroker.connect(topology, amqp_uri)
        run = uuid.uuid4().hex[:10]
        self.law, self.finance = FirmId(f"t{run}-law"), FirmId(f"t{run}-finance")
        self.made: list[FirmId] = [self.law, self.finance]
        self.firms_dir = tmp_path / "firms"
        self.firms_dir.mkdir()
        self.write_firms_file()
        self.settings = {
            "AMQP_URI": amqp_uri,
            "RETRY_DELAYS": [1, 2],
            "DATABASES": {"ticketing": database_url},
            "FIRMS_DIR": str(self.firms_dir),
            "PARKS_DIR": str(ROOT / "deploy" / "parks"),
            "LOG_LEVEL": "WARNING",
        }
        self.config = tmp_path / "config.yaml"
        self.configure()

    def write_firms_file(self, law_capacity: int = 5) -> None:
        firms = {
            "park": PARK,
            "firms": [
                {
                    "firm_id": str(self.law),
                    "name": f"测试律师事务所 {self.law}",
                    "kind": "legal",
                    "skills": ["labour_law", "contract_review"],
                    "capacity": law_capacity,
                    "contact": {"person": "周正", "phone": "0371-6812-0101"},
                },
                {
                    "firm_id": str(self.finance),
                    "name": f"测试财务顾问 {self.finance}",
                    "kind": "finance",
                    "skills": ["financing", "credit"],
                    "capacity": 3,
                    "contact": {"person": "郑鼎", "phone": "0371-6812-1101"},
                },
            ],
        }
        (self.firms_dir / f"{PARK}.yaml").write_text(yaml.safe_dump(firms, allow_unicode=True))

    def configure(self, **overrides) -> None:
        self.config.write_text(yaml.safe_dump({**self.settings, **overrides}))

    def park(self, *args: str):
        return runner.invoke(app, ["firms", *args, "--config", str(self.config)])

    def connect_as(self, firm_id: FirmId, password: str | None = None) -> amqp.Connection:
        uri = amqp_uri_as(
            self.amqp_uri, firm_id.broker_user, password or firm_dev_password(firm_id)
        )
        return BrokerAddress.from_uri(uri).connect()


@pytest.fixture
def firms(rabbit_config, make_database_url, tmp_path):
    world = Firms(nameko.config["AMQP_URI"], make_database_url("ticketing"), tmp_path)
    yield world
    management = ManagementClient.for_broker(None, BrokerAddress.from_uri(world.amqp_uri))
    for firm_id in world.made:
        management._call_optional("DELETE", f"users/{firm_id.broker_user}")


def test_load_provisions_and_registers_every_firm_of_the_files(firms):
    result = firms.park("load")

    assert result.exit_code == 0, result.output
    for firm_id in (firms.law, firms.finance):
        assert firms.broker.state(firm_id).complete
        assert f"user firm-{firm_id} created" in result.output
        bound = f"  {firm_id.work_queue} bound to ticketing.work [{firm_id}]"
        assert bound in result.output.splitlines()  # [{firm_id}] is not taken as markup
        connection = firms.connect_as(firm_id)  # dev-<firm_id>: nothing configured
        try:
            assert connection.channel().basic_get(firm_id.work_queue) is None
        finally:
            connection.collect()
    assert "registered in ticketing" in result.output
    assert "2 firm(s) in 1 file(s): 2 changed, 0 unchanged, 0 left disabled" in result.output
    # Two firms cannot serve the catalogue: what they leave uncovered is said, not fatal.
    assert f"coverage of {PARK}: error: ACCT-01: no accounting firm in park {PARK}" in result.output

    listed = firms.park("list")
    assert listed.exit_code == 0, listed.output
    for firm_id in (firms.law, firms.finance):
        [row] = [line for line in listed.output.splitlines() if str(firm_id) in line]
        assert "active" in row and " ok " in row and PARK in row


def test_a_second_load_changes_nothing_and_says_so(firms):
    assert firms.park("load").exit_code == 0
    hashes = {f: firms.broker.management.get_user(f.broker_user) for f in firms.made}

    again = firms.park("load")

    assert again.exit_code == 0, again.output
    assert f"{firms.law}: unchanged" in again.output
    assert f"{firms.finance}: unchanged" in again.output
    assert "0 changed, 2 unchanged" in again.output and "nothing to do" in again.output
    assert {f: firms.broker.management.get_user(f.broker_user) for f in firms.made} == hashes


def test_a_changed_firm_is_updated_in_ticketing_only(firms):
    assert firms.park("load").exit_code == 0
    firms.write_firms_file(law_capacity=9)

    again = firms.park("load")

    assert again.exit_code == 0, again.output
    assert f"{firms.law}:\n  updated in ticketing" in again.output
    assert f"{firms.finance}: unchanged" in again.output
    [row] = [line for line in firms.park("list").output.splitlines() if str(firms.law) in line]
    assert "0/9" in row


def test_an_invalid_firms_file_changes_nothing(firms):
    path = firms.firms_dir / f"{PARK}.yaml"
    path.write_text(path.read_text("utf-8").replace("capacity: 3", "capacity: 0"))

    result = firms.park("load")

    assert result.exit_code == 1
    assert f"{PARK}.yaml" in result.output and "capacity" in result.output
    for firm_id in firms.made:
        assert firms.broker.state(firm_id).describe() == "absent"


def test_without_a_password_in_a_production_config_nothing_is_provisioned(firms):
    firms.configure(FIRM_PASSWORDS={str(firms.law): "s3cret"}, FIRM_DEV_PASSWORDS=False)

    result = firms.park("load")

    assert result.exit_code == 1
    assert f"FIRM_PASSWORDS.{firms.finance}" in result.output
    for firm_id in firms.made:  # all passwords are resolved before anything is touched
        assert firms.broker.state(firm_id).describe() == "absent"


def test_a_configured_password_is_the_firms(firms):
    # as config/development.yaml with FIRM_PASSWORDS set: finance gets dev-<firm_id>
    firms.configure(FIRM_PASSWORDS={str(firms.law): "s3cret"}, FIRM_DEV_PASSWORDS=True)

    assert firms.park("load").exit_code == 0

    firms.connect_as(firms.law, "s3cret").collect()
    with pytest.raises(amqp.exceptions.AccessRefused):
        firms.connect_as(firms.law)  # not dev-<firm_id>
    firms.connect_as(firms.finance).collect()


def test_add_from_the_options_then_again_changes_nothing(firms):
    firm_id = FirmId(f"t{uuid.uuid4().hex[:10]}-cpa")
    firms.made.append(firm_id)
    described = [
        str(firm_id), "--name", "测试会计师事务所", "--kind", "accounting",
        "--skill", "bookkeeping", "--skill", "tax_filing", "--capacity", "4",
        "--person", "杨明鉴", "--phone", "0371-6812-2101", "--park", PARK,
    ]  # fmt: skip

    result = firms.park("add", *described)

    assert result.exit_code == 0, result.output
    assert "registered in ticketing" in result.output
    assert firms.broker.state(firm_id).complete
    again = firms.park("add", *described)
    assert again.exit_code == 0, again.output
    assert f"{firm_id}: unchanged" in again.output and "nothing to do" in again.output


def test_add_takes_one_firm_from_the_files(firms):
    result = firms.park("add", str(firms.finance))

    assert result.exit_code == 0, result.output
    assert firms.broker.state(firms.finance).complete
    assert firms.broker.state(firms.law).describe() == "absent"


DESCRIBED = ["--name", "x", "--kind", "legal", "--skill", "labour_law", "--capacity", "1",
             "--person", "p", "--phone", "0371-6812-0101"]  # fmt: skip


def described(**changes: str) -> list[str]:
    """DESCRIBED with some options' values changed (or added)."""
    args = list(DESCRIBED)
    for option, value in changes.items():
        flag = f"--{option}"
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no firm {id}"),
        (["--name", "x"], "missing --kind"),
        (described(kind="bakery"), "bakery"),
        (described(skill="Not A Skill"), "skill"),
        (described(capacity="0"), "capacity"),
        (described(phone="call me maybe"), "contact.phone"),
        (described(email="not-an-address"), "contact.email"),
        (described(name="   "), "name"),
        (described(person=""), "person"),
    ],
)
def test_add_refuses_what_it_cannot_register_and_provisions_nothing(firms, args, message):
    firm_id = FirmId(f"t{uuid.uuid4().hex[:10]}-bad")
    firms.made.append(firm_id)

    result = firms.park("add", str(firm_id), *args)

    assert result.exit_code == 1, result.output
    assert message.format(id=firm_id) in result.output
    assert firms.broker.state(firm_id).describe() == "absent"


def test_add_refuses_an_invalid_firm_id(firms):
    result = firms.park("add", "Bad_Id", *DESCRIBED)

    assert result.exit_code == 1, result.output
    assert "firm_id" in result.output


def test_disable_revokes_the_user_and_a_second_disable_changes_nothing(firms):
    assert firms.park("load").exit_code == 0

    result = firms.park("disable", str(firms.law), "--reason", "contract ended")

    assert result.exit_code == 0, result.output
    assert "disabled in ticketing, 0 open ticket(s) reassigned" in result.output
    assert f"user firm-{firms.law} deleted" in result.output
    with pytest.raises(amqp.exceptions.AccessRefused):
        firms.connect_as(firms.law)
    firms.connect_as(firms.finance).collect()  # the other firm is untouched
    [row] = [line for line in firms.park("list").output.splitlines() if str(firms.law) in line]
    assert "disabled: contract ended" in row and "revoked" in row
    again = firms.park("disable", str(firms.law))
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output


def open_a_ticket_for(firms, code: str = "LEGAL-01") -> str:
    """An admitted enterprise asks for ``code`` (ticketing's use cases on its database)."""
    from services.ticketing import handlers
    from services.ticketing.orm import messaging
    from services.ticketing.unit_of_work import TicketingUnitOfWork
    from shared.clock import utcnow
    from shared.db import Database

    database = Database(firms.settings["DATABASES"]["ticketing"])

    def uow():
        return TicketingUnitOfWork(database, messaging, source="ticketing", clock=utcnow)

    enterprise_id = f"ent-{uuid.uuid4().hex[:8]}"
    admitted = {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "enterprise_name": "郑州测试机械有限公司",
        "uscc": "91410100000000001X",
        "industry_code": "C3464",
        "tenure": "purchase",
        "supply_chain_partner": True,
        "environmental_review_required": False,
        "chief_service_officer": "officer-7",
        "legal_representative": "王建国",
        "contact_phone": "13803710000",
    }
    request = {
        "request_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "service_code": code,
        "description": "劳动合同需要审查",
        "priority": "normal",
    }
    try:
        handlers.admit_enterprise(admitted, PARK, uow())
        ticket = handlers.request_service(request, PARK, uow())
    finally:
        database.dispose()
    return ticket.ticket_id


def outbox_rows(firms, event_type: str) -> list:
    from sqlalchemy import create_engine, select

    from services.ticketing.orm import messaging
    from shared.db import normalise_url

    engine = create_engine(normalise_url(firms.settings["DATABASES"]["ticketing"]))
    try:
        with engine.connect() as connection:
            outbox = messaging.outbox
            query = select(outbox.c.routing_key).where(outbox.c.event_type == event_type)
            return [row.routing_key for row in connection.execute(query)]
    finally:
        engine.dispose()


def test_disable_reassigns_the_firms_open_tickets_before_revoking_it(firms):
    assert firms.park("load").exit_code == 0
    open_a_ticket_for(firms)  # the only legal firm takes it
    assert outbox_rows(firms, "work_assigned") == [str(firms.law)]
    [row] = [line for line in firms.park("list").output.splitlines() if str(firms.law) in line]
    assert "1/5" in row

    result = firms.park("disable", str(firms.law))

    assert result.exit_code == 0, result.output
    assert "disabled in ticketing, 1 open ticket(s) reassigned" in result.output
    assert outbox_rows(firms, "work_withdrawn") == [str(firms.law)]  # the relay sends it
    [row] = [line for line in firms.park("list").output.splitlines() if str(firms.law) in line]
    assert "0/5" in row


def test_a_disabled_firm_stays_disabled_on_load_and_add_re_enables_it(firms):
    assert firms.park("load").exit_code == 0
    assert firms.park("disable", str(firms.law)).exit_code == 0

    reload = firms.park("load")

    assert reload.exit_code == 0, reload.output
    assert f"{firms.law}: disabled in ticketing, left disabled" in reload.output
    assert firms.broker.management.get_user(firms.law.broker_user) is None
    added = firms.park("add", str(firms.law))
    assert added.exit_code == 0, added.output
    assert "re-enabled in ticketing" in added.output
    firms.connect_as(firms.law).collect()


def test_disable_refuses_an_unknown_firm(firms):
    result = firms.park("disable", "t-nobody-anywhere")

    assert result.exit_code == 1
    assert "[not_found] no firm t-nobody-anywhere" in result.output  # not taken as markup


def test_a_work_item_reaches_a_loaded_firm_through_ticketing_work(firms):
    assert firms.park("load").exit_code == 0
    connection = BrokerAddress.from_uri(firms.amqp_uri).connect()
    try:
        message = amqp.Message(b'{"work": 1}')
        connection.channel().basic_publish(message, "ticketing.work", str(firms.finance))
    finally:
        connection.close()

    [item] = get_messages(
        amqp_uri_as(firms.amqp_uri, firms.finance.broker_user, firm_dev_password(firms.finance)),
        firms.finance.work_queue,
    )
    assert item.body == b'{"work": 1}'


def test_the_firms_commands_are_registered_with_park():
    result = runner.invoke(app, ["firms", "--help"])

    assert result.exit_code == 0, result.output
    for command in ("load", "add", "list", "disable"):
        assert command in result.output


def test_an_unmigrated_database_is_refused_before_the_broker_is_touched(firms, tmp_path):
    firms.configure(DATABASES={"ticketing": f"sqlite:///{tmp_path / 'empty.sqlite'}"})

    result = firms.park("load")

    assert result.exit_code == 1, result.output
    assert "park db migrate ticketing" in result.output
    for firm_id in firms.made:
        assert firms.broker.state(firm_id).describe() == "absent"


def test_make_run_seeds_the_firms_after_the_parks():
    import subprocess

    planned = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()

    commands = [
        line.split("shared.tooling.cli ", 1)[1] for line in planned if "tooling.cli" in line
    ]
    assert commands.index("firms load") == commands.index("parks load") + 1
    assert commands.index("topology declare") < commands.index("firms load")


def test_disable_again_completes_a_revocation_left_unfinished(firms):
    assert firms.park("load").exit_code == 0
    assert firms.park("disable", str(firms.law)).exit_code == 0
    # As if the broker step had failed after ticketing disabled the firm:
    firms.broker.grant(firms.law, firm_dev_password(firms.law))

    again = firms.park("disable", str(firms.law))

    assert again.exit_code == 0, again.output
    assert f"permissions of firm-{firms.law} on vhost" in again.output
    assert f"user firm-{firms.law} deleted" in again.output
    assert "disabled in ticketing" not in again.output  # the database step is done already
    with pytest.raises(amqp.exceptions.AccessRefused):
        firms.connect_as(firms.law)
