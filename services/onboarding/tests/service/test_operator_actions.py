import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcClient

from services.onboarding.exceptions import IllegalTransition, InvalidRequest, NotFound
from services.onboarding.tests.service.conftest import DEPARTMENTS, application
from tests.support.broker import wait_for


def admit(onboarding, units, **changes) -> tuple[dict, dict]:
    sent = onboarding.submit(application(units, **changes))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    onboarding.approve_all(sent["application_id"])
    [admission] = onboarding.wait_for_event(sent["application_id"], "enterprise_admitted")
    onboarding.wait_for_event(sent["application_id"], "units_allocated")
    return sent, admission["payload"]


def test_production_start_is_recorded_once_and_announced(onboarding, clock):
    onboarding.start()
    sent, enterprise = admit(onboarding, ["B12-1F-01"])
    clock.advance(days=3)

    onboarding.rpc("record_production_start", enterprise["enterprise_id"], "2026-11-29")
    onboarding.rpc("record_production_start", enterprise["enterprise_id"], "2026-11-29")

    [started] = onboarding.wait_for_event(sent["application_id"], "production_started")
    assert started["payload"]["started_on"] == "2026-11-29"
    with pytest.raises(IllegalTransition, match="production_already_started"):
        onboarding.rpc("record_production_start", enterprise["enterprise_id"], "2026-11-28")
    with pytest.raises(InvalidRequest, match="started_on"):
        onboarding.rpc("record_production_start", enterprise["enterprise_id"], "29/11/2026")


def test_a_production_start_in_the_future_is_refused(onboarding):
    onboarding.start()
    _, enterprise = admit(onboarding, ["B12-1F-02"])

    with pytest.raises(IllegalTransition, match="invalid_date"):
        onboarding.rpc("record_production_start", enterprise["enterprise_id"], "2027-01-01")


def test_ending_a_lease_releases_the_units(onboarding):
    onboarding.start()
    sent, enterprise = admit(onboarding, ["B12-2F-01", "B12-2F-02"], tenure="lease")

    released = onboarding.rpc("end_lease", enterprise["enterprise_id"], ["B12-2F-01"])

    assert released == ["B12-2F-01"]
    [event] = onboarding.wait_for_event(sent["application_id"], "units_released")
    assert event["payload"]["reason"] == "lease_ended"
    assert event["payload"]["enterprise_id"] == enterprise["enterprise_id"]
    assert onboarding.unit_statuses("B12-2F-01", "B12-2F-02") == {
        "B12-2F-01": "available",
        "B12-2F-02": "leased",
    }


def test_a_sale_cannot_be_ended_as_a_lease(onboarding):
    onboarding.start()
    _, enterprise = admit(onboarding, ["B12-3F-01"])

    with pytest.raises(IllegalTransition, match="lease_not_held"):
        onboarding.rpc("end_lease", enterprise["enterprise_id"], ["B12-3F-01"])
    assert onboarding.unit_statuses("B12-3F-01") == {"B12-3F-01": "sold"}


def test_unknown_ids_are_reported_as_not_found(onboarding):
    onboarding.start()
    with pytest.raises(NotFound, match="unknown_enterprise"):
        onboarding.rpc("end_lease", "no-such-enterprise", ["B01-1F-01"])
    with pytest.raises(NotFound, match="unknown_application"):
        onboarding.rpc("application_history", "00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFound, match="park_not_found"):
        onboarding.rpc("query_units", "no-such-park")


def test_the_chief_service_officer_can_be_reassigned_within_the_roster(onboarding):
    onboarding.start()
    _, enterprise = admit(onboarding, ["B12-4F-01"])
    others = {"cso-01", "cso-02", "cso-03", "cso-04"} - {enterprise["chief_service_officer"]}
    target = sorted(others)[0]

    onboarding.rpc("reassign_chief_service_officer", enterprise["enterprise_id"], target)

    [event] = wait_for_enterprise_event(onboarding, enterprise, "chief_service_officer_reassigned")
    assert event["payload"]["chief_service_officer"] == target
    with pytest.raises(IllegalTransition, match="unknown_service_officer"):
        onboarding.rpc("reassign_chief_service_officer", enterprise["enterprise_id"], "nobody")


def wait_for_enterprise_event(onboarding, enterprise, type_):
    return wait_for(
        lambda: [
            e
            for e in onboarding.events()
            if e["type"] == type_ and e["payload"]["enterprise_id"] == enterprise["enterprise_id"]
        ],
        message=type_,
    )


def test_a_service_visit_is_logged_once_per_visit_id(onboarding, clock):
    onboarding.start()
    _, enterprise = admit(onboarding, ["B12-4F-02"])
    clock.advance(days=1)
    officer = enterprise["chief_service_officer"]

    for _ in range(2):
        onboarding.rpc(
            "log_service_visit",
            enterprise["enterprise_id"],
            officer,
            "2026-11-28",
            "走访：了解设备安装进度",
            visit_id="visit-1",
        )

    [event] = wait_for_enterprise_event(onboarding, enterprise, "service_visit_logged")
    assert event["payload"]["visit_id"] == "visit-1"
    assert len([e for e in onboarding.events() if e["type"] == "service_visit_logged"]) == 1


def test_units_can_be_queried_with_occupancy_figures(onboarding):
    onboarding.start()
    admit(onboarding, ["B13-1F"], tenure="lease")

    building = onboarding.rpc("query_units", "aux-shangjie", building="B13")
    leased = onboarding.rpc("query_units", "aux-shangjie", status="leased")
    park = onboarding.rpc("query_units", "aux-shangjie")

    assert building["total_units"] == 24
    assert building["by_status"]["leased"] == {"units": 6, "area_m2": 1800}
    assert building["occupancy_bp"] == 2500  # 6 of 24 equal rooms
    assert [u["unit_id"] for u in leased["units"]] == [f"B13-1F-0{r}" for r in range(1, 7)]
    assert park["total_units"] == 440 and park["total_area_m2"] == 137_600
    with pytest.raises(InvalidRequest, match="status"):
        onboarding.rpc("query_units", "aux-shangjie", status="haunted")


def test_an_applications_full_history_is_available(onboarding):
    onboarding.start()
    sent, enterprise = admit(onboarding, ["B13-2F-01"])

    history = onboarding.rpc("application_history", sent["application_id"])

    assert history["status"] == "admitted"
    assert history["enterprise_id"] == enterprise["enterprise_id"]
    types = [entry["event_type"] for entry in history["history"]]
    assert types[:2] == ["application_received", "review_requested"]
    assert types.count("review_decision_recorded") == len(DEPARTMENTS)
    assert types[-2:] == ["enterprise_admitted", "units_allocated"]


def test_rpc_errors_reach_remote_callers_with_their_code(onboarding):
    onboarding.start()

    with ClusterRpcClient() as cluster, pytest.raises(RemoteError) as caught:
        cluster.onboarding.end_lease("no-such-enterprise", ["B01-1F-01"])

    assert caught.value.exc_type == "NotFound"
    assert "[unknown_enterprise]" in caught.value.value


def test_operators_list_applications_and_officer_workloads_by_rpc(onboarding):
    onboarding.start()
    sent, enterprise = admit(onboarding, ["B12-4F-01"])

    [row] = onboarding.rpc("list_applications", status="admitted", park_id="aux-shangjie")
    assert (row["application_id"], row["enterprise_id"]) == (
        sent["application_id"],
        enterprise["enterprise_id"],
    )
    assert onboarding.rpc("list_applications", overdue_only=True) == []
    with pytest.raises(InvalidRequest, match="overdue_only"):
        onboarding.rpc("list_applications", overdue_only="yes")

    officers = onboarding.rpc("officer_workload", "aux-shangjie")["officers"]
    [serving] = [o for o in officers if o["total"]]
    assert (serving["officer_id"], serving["active"]) == (
        enterprise["chief_service_officer"],
        1,
    )
    with pytest.raises(NotFound, match="park_not_found"):
        onboarding.rpc("officer_workload", "nowhere")
