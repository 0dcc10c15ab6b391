"""The Kafka client settings every process reads from its environment (issue 9, a closed Kafka)."""

from __future__ import annotations

import pytest

from services.runtime.kafka import (
    PRINCIPAUX,
    Identifiants,
    ReglagesKafkaInvalides,
    en_tant_que,
    identifiants_courants,
)


def test_no_variable_means_plaintext_for_an_external_broker_without_authentication() -> None:
    ids = Identifiants.depuis_env({})
    assert ids.protocole == "PLAINTEXT"
    assert ids.options_aiokafka() == {"security_protocol": "PLAINTEXT"}


def test_the_four_variables_give_a_scram_sha_512_client() -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "lecteur",
        "KAFKA_SASL_PASSWORD": "s3cret",
    }
    ids = Identifiants.depuis_env(env)
    assert ids.options_aiokafka() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "lecteur",
        "sasl_plain_password": "s3cret",
    }
    assert ids.env() == env
    assert Identifiants.depuis_env(ids.env()) == ids


def test_a_username_alone_means_sasl_plaintext_with_scram_sha_512() -> None:
    ids = Identifiants.depuis_env({"KAFKA_SASL_USERNAME": "relais", "KAFKA_SASL_PASSWORD": "x"})
    assert (ids.protocole, ids.mecanisme) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")


@pytest.mark.parametrize(
    "env",
    [
        {"KAFKA_SECURITY_PROTOCOL": "SSL_PLAIN"},
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
        {"KAFKA_SASL_USERNAME": "relais"},
        {"KAFKA_SASL_USERNAME": "relais", "KAFKA_SASL_PASSWORD": "x", "KAFKA_SASL_MECHANISM": "GSSAPI"},
    ],
)
def test_an_unusable_setting_is_refused_with_what_is_missing(env: dict[str, str]) -> None:
    with pytest.raises(ReglagesKafkaInvalides):
        Identifiants.depuis_env(env)


def test_the_password_never_shows_in_a_repr() -> None:
    assert "s3cret" not in repr(Identifiants.scram("relais", "s3cret"))


def test_the_java_client_properties_hold_the_scram_login() -> None:
    texte = Identifiants.scram("lecteur", "s3cret").proprietes_client("127.0.0.1:9092")
    assert "bootstrap.servers=127.0.0.1:9092\n" in texte
    assert "security.protocol=SASL_PLAINTEXT\n" in texte
    assert "sasl.mechanism=SCRAM-SHA-512\n" in texte
    assert 'ScramLoginModule required username="lecteur" password="s3cret";' in texte


def test_clients_built_in_a_block_use_its_principal_then_the_environment_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "admin")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "a")
    with en_tant_que(Identifiants.scram("projections", "p")):
        assert identifiants_courants().utilisateur == "projections"
        assert identifiants_courants(Identifiants()).protocole == "PLAINTEXT"
    assert identifiants_courants().utilisateur == "admin"


def test_only_the_relay_writes_the_event_and_identity_topics_and_only_projections_and_notifications_read_identities() -> (
    None
):
    def qui(operation: str, sujet: str) -> set[str]:
        return {
            p
            for p, acls in PRINCIPAUX.items()
            if any(a.ressource == "topic" and a.nom == sujet and a.operation == operation for a in acls)
        }

    assert qui("write", "ase.parcours.evenements.v1") == {"relais"}
    assert qui("write", "ase.identites.v1") == {"relais"}
    # The deadline engine keeps the birth dates only (majority, autonomy, the APJM's limit at 21).
    assert qui("read", "ase.identites.v1") == {"projections", "notifications"}
    assert qui("read", "ase.parcours.restreint.v1") == {"projections"}
    assert qui("read", "ase.statistiques.v1") == {"observatoire"}
    assert qui("read", "ase.parcours.evenements.v1") == {"projections", "notifications", "lecteur"}
