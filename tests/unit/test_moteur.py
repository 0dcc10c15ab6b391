"""The engine's pure parts: progress and lag arithmetic, reading Kafka records, choosing a feed, dead letters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from services.projections.reconstruction import (
    Avancement,
    barre_de_progression,
    ligne_avancement,
    rattrape,
    total_a_traiter,
    traites,
)
from services.projections.service import Sources, ecart, groupe_de, sujet_dlq
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import SOURCE_JOURNAL, FeedJournal, FeedKafka, message_lu, position_de_depart
from services.runtime.moteur import LettreMorte, Projection

TOPIC = "ase.parcours.evenements.v1"


class ProjectionFactice(Projection):
    """A projection with no tables and no effect: only its name and topics matter here."""

    def __init__(self, nom: str, sujets: list[str]) -> None:
        self.nom = nom
        self.sujets = sujets

    def ddl(self) -> list[str]:
        return []

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        return None


@dataclass
class EnregistrementKafka:
    """What aiokafka hands over: an offset, headers, a value."""

    offset: int
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int


def entetes(flux: uuid.UUID, version: int) -> list[tuple[str, bytes]]:
    return [
        (k, v.encode())
        for k, v in {
            "ce_id": "e-1",
            "ce_type": "fr.ase.parcours.mesure_decidee.v1",
            "ce_subject": str(flux),
            "ce_sequence": str(version),
            "ce_source": "/ase/59/parcours",
            "ce_time": datetime(2026, 11, 28, 10, tzinfo=UTC).isoformat(),
            "ce_auteur": "alice",
        }.items()
    ]


def test_a_source_starts_before_offset_zero_and_the_store_before_notification_one() -> None:
    assert position_de_depart((TOPIC, 2)) == -1
    assert position_de_depart((SOURCE_JOURNAL, 0)) == 0


def test_the_lag_sums_what_each_partition_holds_beyond_what_was_applied() -> None:
    fins = {(TOPIC, 0): 9, (TOPIC, 1): 4, (TOPIC, 2): -1, (SOURCE_JOURNAL, 0): 30}
    assert ecart(fins, {}) == 10 + 5 + 0 + 30
    assert ecart(fins, {(TOPIC, 0): 9, (TOPIC, 1): 2, (SOURCE_JOURNAL, 0): 31}) == 2


def test_a_rebuild_counts_its_progress_in_events_and_is_caught_up_only_everywhere() -> None:
    fins = {(TOPIC, 0): 9, (TOPIC, 1): -1, (SOURCE_JOURNAL, 0): 0}
    assert total_a_traiter(fins) == 10
    assert traites({}, fins) == 0
    assert traites({(TOPIC, 0): 3}, fins) == 4
    assert traites({(TOPIC, 0): 50}, fins) == 10  # beyond the target does not count
    assert not rattrape({(TOPIC, 0): 8}, fins)
    assert rattrape({(TOPIC, 0): 9}, fins)
    assert rattrape({}, {})


def test_the_rate_and_the_time_left_come_from_what_was_applied_so_far() -> None:
    a = Avancement("dossiers", "p_x", "kafka", traites=200, total=1000, ecoule_s=4.0)
    assert a.debit == 50.0
    assert a.restant_s == 16.0
    assert a.fraction == 0.2
    assert Avancement("dossiers", "p_x", "kafka", 0, 1000, 0.0).restant_s is None
    assert Avancement("dossiers", "p_x", "kafka", 0, 0, 0.0).fraction == 1.0
    assert ligne_avancement(a) == "rebuild dossiers depuis kafka: 200/1000 (20%), 50 év/s, reste ~16 s"
    fini = Avancement("dossiers", "p_x", "store", 1000, 1000, 10.0, termine=True)
    assert ligne_avancement(fini) == "rebuild dossiers depuis store: 1000/1000 (100%), 100 év/s, terminé"


def test_without_a_terminal_progress_is_a_line_now_and_then_and_always_the_last() -> None:
    lignes: list[str] = []
    with barre_de_progression("audit", terminal=False, ecrire=lignes.append, intervalle_s=3600) as suivre:
        suivre(Avancement("audit", "p", "store", 0, 10, 0.0))
        suivre(Avancement("audit", "p", "store", 5, 10, 1.0))
        suivre(Avancement("audit", "p", "store", 10, 10, 2.0, termine=True))
    assert lignes == [
        "rebuild audit depuis store: 0/10 (0%), 0 év/s, reste ~?",
        "rebuild audit depuis store: 10/10 (100%), 5 év/s, terminé",
    ]


def test_on_a_terminal_progress_is_a_rich_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with barre_de_progression("audit", terminal=True) as suivre:
        suivre(Avancement("audit", "p", "store", 0, 10, 0.0))
        suivre(Avancement("audit", "p", "store", 10, 10, 2.0, termine=True))
    assert "rebuild audit" in capsys.readouterr().out


def test_a_kafka_record_becomes_the_published_event_it_carries() -> None:
    flux = uuid.uuid4()
    lu = message_lu(Partition(TOPIC, 1), EnregistrementKafka(7, orjson.dumps({"a": 1}), entetes(flux, 3)))
    assert (lu.cle, lu.offset, lu.illisible) == ((TOPIC, 1), 7, None)
    assert lu.evenement is not None
    assert (lu.evenement.nom, lu.evenement.flux_id, lu.evenement.version, lu.evenement.departement) == (
        "MesureDecidee",
        flux,
        3,
        "59",
    )
    assert lu.evenement.donnees == {"a": 1}


def test_a_record_that_cannot_be_read_is_kept_with_its_reason_not_dropped() -> None:
    sans_entetes = message_lu(Partition(TOPIC, 0), EnregistrementKafka(3, b"{}", [("ce_type", b"x")]))
    assert sans_entetes.evenement is None
    assert sans_entetes.illisible is not None
    assert sans_entetes.illisible.startswith("illisible: KeyError")
    assert sans_entetes.entetes == {"ce_type": "x"}
    pas_du_json = message_lu(Partition(TOPIC, 0), EnregistrementKafka(4, b"\x00", entetes(uuid.uuid4(), 1)))
    assert pas_du_json.evenement is None
    assert pas_du_json.illisible is not None


def test_the_feed_is_kafka_when_configured_the_store_otherwise_and_a_rebuild_has_a_group_of_its_own() -> None:
    projection = ProjectionFactice("dossiers", [TOPIC])
    assert isinstance(Sources("postgresql://x/y").feed(projection), FeedJournal)
    feed = Sources("postgresql://x/y", "k:9092").feed(projection)
    assert isinstance(feed, FeedKafka)
    assert (feed.groupe, feed.topics) == ("ase.projections.dossiers", [TOPIC])
    autre = Sources("postgresql://x/y", "k:9092").feed(projection, depuis="store")
    assert isinstance(autre, FeedJournal)
    assert autre.topics == frozenset({TOPIC})
    reconstruction = Sources("postgresql://x/y", "k:9092").feed(projection, groupe="g.rebuild.s")
    assert isinstance(reconstruction, FeedKafka)
    assert reconstruction.groupe == "g.rebuild.s"
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP_SERVERS"):
        Sources("postgresql://x/y").feed(projection, depuis="kafka")
    with pytest.raises(ValueError, match="unknown source"):
        Sources("postgresql://x/y").feed(projection, depuis="ftp")
    assert groupe_de(projection) == "ase.projections.dossiers"
    assert sujet_dlq(projection) == "ase.projections.dossiers.dlq"


def test_a_dead_letter_says_where_the_event_was_what_it_was_and_why_keyed_by_its_stream() -> None:
    flux = uuid.uuid4()
    lettre = LettreMorte(TOPIC, 2, 41, "e-1", "fr.ase.parcours.mesure_decidee.v1", flux, 3, "ValueError: non")
    assert lettre.cle == str(flux).encode()
    assert orjson.loads(lettre.corps()) == {
        "source": TOPIC,
        "partition": 2,
        "position": 41,
        "ce_id": "e-1",
        "ce_type": "fr.ase.parcours.mesure_decidee.v1",
        "flux_id": str(flux),
        "version": 3,
        "erreur": "ValueError: non",
    }
    illisible = LettreMorte(TOPIC, 0, 1, "", "", None, None, "illisible: KeyError")
    assert illisible.cle == b""
    assert orjson.loads(illisible.corps())["flux_id"] is None


def test_a_rebuilds_ddl_splits_into_tables_and_the_indexes_built_once_filled() -> None:
    from services.projections.readmodels import catalogue_des_projections
    from services.runtime.moteur import est_un_index

    assert est_un_index("CREATE INDEX IF NOT EXISTS a ON b (c)")
    assert est_un_index("  create index a ON b (c)")
    assert not est_un_index("CREATE UNIQUE INDEX a ON b (c)")  # ON CONFLICT needs it while filling
    assert not est_un_index("CREATE TABLE IF NOT EXISTS index_a (c int)")
    for projection in catalogue_des_projections():
        ddl = projection.ddl()
        index = [i for i in ddl if est_un_index(i)]
        # Tables and views stay; nothing else before its first parenthesis names an index.
        assert all("INDEX" not in i.split("(")[0].upper() for i in ddl if i not in index), projection.nom
        assert all(" ON " in i for i in index), projection.nom
