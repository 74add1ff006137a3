"""Services declare themselves once and the platform reads the declarations (entry points):
each declaration agrees with its proto, refuses what it may not say, and drives Vault
policies, subscriptions and migrations."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import EntryPoint
from types import ModuleType
from typing import Any

import pytest
from subsidy.intake.v1 import intake_pb2
from subsidy.review.v1 import review_pb2

from subsidy_platform import declaration as declaration_module
from subsidy_platform.crypto import DataClass
from subsidy_platform.db import migrated_components
from subsidy_platform.declaration import (
    ServiceDeclaration,
    declaration,
    declarations,
    default_address,
    reportable_by,
    service_names,
    subscribers,
)
from subsidy_platform.rotation import CiphertextColumns
from subsidy_platform.vault import policy_documents, policy_name

PROTOS: dict[str, ModuleType] = {"intake": intake_pb2, "review": review_pb2}
PROBE = "subsidy.probe.v1.ProbeService"


def probe(**changes: Any) -> ServiceDeclaration:
    """A valid declaration of a made-up service, with some fields changed."""
    fields: dict[str, Any] = {
        "name": "probe",
        "port": 50099,
        "rpc_roles": {f"/{PROBE}/Notice": frozenset({"service:intake"})},
        "encrypts": (DataClass.CONTACT,),
        "decrypts": (DataClass.CONTACT,),
        "ciphertext": (CiphertextColumns("probe.notes", ("text_ct",), DataClass.CONTACT),),
        "subscriptions": {"intake.application": f"/{PROBE}/Notice"},
    }
    fields.update(changes)
    return ServiceDeclaration(**fields)


def proto_module(name: str) -> ModuleType:
    """The generated module of a service's contract, proto/subsidy/<name>/v1/<name>.proto."""
    return PROTOS.get(name) or import_module(f"subsidy.{name}.v1.{name}_pb2")


def served_methods(name: str) -> set[str]:
    """Every method the service's proto file serves, as the access table names RPCs."""
    services = proto_module(name).DESCRIPTOR.services_by_name.values()
    return {
        f"/{service.full_name}/{method.name}" for service in services for method in service.methods
    }


def test_the_installed_services_include_intake_and_review() -> None:
    assert {"intake", "review"} <= set(service_names())
    assert service_names() == tuple(sorted(service_names()))
    assert all(declarations()[name].name == name for name in service_names())


@pytest.mark.parametrize("name", service_names())
def test_a_declared_rpc_table_names_exactly_the_methods_of_its_proto_service(name: str) -> None:
    declared = set(declaration(name).rpc_roles)
    served = served_methods(name)
    assert declared - served == set(), "declared RPCs that the proto does not serve"
    assert served - declared == set(), "served RPCs that nobody may call (undeclared)"


@pytest.mark.parametrize("name", service_names())
def test_a_declared_subscription_is_received_by_a_method_of_its_proto(name: str) -> None:
    assert set(declaration(name).subscriptions.values()) <= served_methods(name)


def test_a_declaration_is_valid_as_written() -> None:
    assert probe().schema == "probe"
    assert probe().database_role == "svc_probe"
    assert probe().listen_variable == "PROBE_LISTEN"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"name": "Probe"}, id="capital letter"),
        pytest.param({"name": "p"}, id="one letter"),
        pytest.param({"name": "probe-svc"}, id="hyphen"),
        pytest.param({"name": "9probe"}, id="digit first"),
        pytest.param({"name": "auth"}, id="the platform's sign-in service"),
    ],
)
def test_a_declaration_with_a_bad_name_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a valid service name"):
        probe(**changes)


@pytest.mark.parametrize("port", [0, 80, 1023, 65536])
def test_a_declaration_with_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="port out of range"):
        probe(port=port)


def test_a_declaration_keeping_ciphertext_outside_its_schema_is_refused() -> None:
    columns = CiphertextColumns("intake.applications", ("name_ct",), DataClass.CONTACT)
    with pytest.raises(ValueError, match="outside its schema"):
        probe(ciphertext=(columns,))


def test_a_declaration_keeping_ciphertext_it_may_neither_encrypt_nor_decrypt_is_refused() -> None:
    columns = CiphertextColumns("probe.accounts", ("number_ct",), DataClass.BANK)
    with pytest.raises(ValueError, match="may not encrypt"):
        probe(ciphertext=(columns,))
    # intake keeps bank ciphertext it encrypts and may not decrypt (payments decrypts it)
    kept = probe(ciphertext=(columns,), encrypts=(DataClass.BANK,))
    assert DataClass.BANK not in kept.decrypts


def test_a_subscription_whose_rpc_is_not_in_the_role_table_is_refused() -> None:
    with pytest.raises(ValueError, match="not in its role table"):
        probe(subscriptions={"intake.application": f"/{PROBE}/Elsewhere"})


@pytest.mark.parametrize(
    "subscription",
    [
        pytest.param({"Intake Application": f"/{PROBE}/Notice"}, id="bad topic"),
        pytest.param({"intake.application": "Notice"}, id="not a full method name"),
    ],
)
def test_a_malformed_subscription_is_refused(subscription: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="bad subscription"):
        probe(subscriptions=subscription)


def test_review_subscribes_to_intakes_application_events() -> None:
    assert ("review", "/subsidy.review.v1.ReviewService/ApplicationChanged") in subscribers(
        "intake.application"
    )
    assert ("intake", "/subsidy.intake.v1.IntakeService/ReportStatusTransition") in subscribers(
        "review.status"
    )
    assert subscribers("nobody.listens") == []


def test_every_subscription_admits_the_publishing_service_in_the_role_table() -> None:
    for declared in declarations().values():
        for topic, method in declared.subscriptions.items():
            publisher = topic.split(".", 1)[0]
            assert f"service:{publisher}" in declared.rpc_roles[method], (declared.name, topic)


def test_only_the_statuses_a_service_declares_are_reportable_by_it() -> None:
    assert "UNDER_REVIEW" in reportable_by("review")
    assert reportable_by("intake") == frozenset()
    assert reportable_by("nobody") == frozenset()


def test_default_addresses_are_the_declared_ports_and_sign_in_is_50050() -> None:
    assert default_address("auth") == "127.0.0.1:50050"
    assert default_address("intake") == f"127.0.0.1:{declaration('intake').port}"
    with pytest.raises(LookupError):
        default_address("nobody")


def test_ports_of_installed_services_differ_and_none_is_the_sign_in_port() -> None:
    ports = [d.port for d in declarations().values()]
    assert len(set(ports)) == len(ports)
    assert 50050 not in ports


@pytest.mark.parametrize("name", service_names())
def test_only_a_service_declaring_blind_indexes_may_use_the_hmac_key(name: str) -> None:
    document = policy_documents(["shinjuku-2025"])[policy_name(name)]
    assert ("transit/hmac/subsidy-shinjuku-2025-index" in document) is declaration(name).blind_index


def test_policies_follow_what_each_service_declares() -> None:
    documents = policy_documents(["shinjuku-2025", "setagaya-2025"])
    for name, declared in declarations().items():
        document = documents[policy_name(name)]
        for data_class in DataClass:
            for program in ("shinjuku-2025", "setagaya-2025"):
                key = f"subsidy-{program}-{data_class.value}"
                assert (f"transit/decrypt/{key}" in document) is (data_class in declared.decrypts)
                assert (f"transit/encrypt/{key}" in document) is (data_class in declared.encrypts)


def test_review_may_never_decrypt_bank_details() -> None:
    document = policy_documents(["shinjuku-2025"])[policy_name("review")]
    assert "transit/decrypt/subsidy-shinjuku-2025-bank" not in document
    assert "-bank" not in document
    assert "transit/hmac/" not in document


def test_a_policy_for_a_service_without_blind_indexes_has_no_hmac_path() -> None:
    documents = policy_documents(["shinjuku-2025"], services={"probe": probe()})
    assert "hmac" not in documents[policy_name("probe")]
    with_index = policy_documents(["shinjuku-2025"], services={"probe": probe(blind_index=True)})
    assert "transit/hmac/subsidy-shinjuku-2025-index" in with_index[policy_name("probe")]


def test_migrations_run_auth_and_audit_first_then_the_services() -> None:
    components = migrated_components()
    assert components[:2] == ("auth", "audit")
    assert {"intake", "review"} <= set(components[2:])


def test_an_entry_point_that_is_not_its_services_declaration_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = EntryPoint("reviews", "subsidy_review.declaration:DECLARATION", "x")
    monkeypatch.setattr(declaration_module, "entry_points", lambda group: [wrong])
    declarations.cache_clear()
    try:
        with pytest.raises(TypeError, match="is not that service's declaration"):
            declarations()
    finally:
        monkeypatch.undo()
        declarations.cache_clear()
    assert "review" in declarations()


def roles_granted_to_services(name: str) -> set[str]:
    """The services that the role table of `name` lets in (`service:<peer>` roles)."""
    return {
        role.removeprefix("service:")
        for roles in declaration(name).rpc_roles.values()
        for role in roles
        if role.startswith("service:")
    }


def test_edges_are_the_declared_calls_and_the_outbox_deliveries() -> None:
    found = declaration_module.edges()
    assert declaration_module.Edge("review", "intake", "rpc") in found
    assert declaration_module.Edge("intake", "review", "outbox") in found
    assert declaration_module.Edge("review", "intake", "outbox") in found
    assert list(found) == sorted(found)
    for edge in found:
        assert edge.caller in service_names() and edge.callee in service_names()


@pytest.mark.parametrize("name", service_names())
def test_a_service_lets_in_exactly_the_installed_services_whose_edges_reach_it(name: str) -> None:
    reaching = {e.caller for e in declaration_module.edges() if e.callee == name}
    granted = roles_granted_to_services(name)
    assert reaching <= granted, "a declared call that the callee's role table would refuse"
    assert granted & set(service_names()) == reaching, "a grant to a service that never calls"


def test_clients_refuse_a_peer_the_declaration_does_not_name(tmp_path: Any) -> None:
    from subsidy_platform.clients import ServiceClients

    assert declaration_module.peers_of("review") is not None
    assert "intake" in (declaration_module.peers_of("review") or ())
    assert declaration_module.peers_of("nosuchservice") is None
    clients = ServiceClients(
        None,  # type: ignore[arg-type]  # never reached: refused before any channel
        "review",
        {"intake": "127.0.0.1:1", "auth": "127.0.0.1:2"},
        peers=declaration_module.peers_of("review"),
    )
    with pytest.raises(LookupError, match="does not declare"):
        clients.channel("auth")
    assert clients.address("intake") == "127.0.0.1:1"


def test_a_declaration_refuses_itself_or_a_bad_name_as_a_peer() -> None:
    with pytest.raises(ValueError, match="peer"):
        probe(calls=frozenset({"probe"}))
    with pytest.raises(ValueError, match="peer"):
        probe(calls=frozenset({"Bad Name"}))
