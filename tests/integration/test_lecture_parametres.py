"""Query and path values of the read API: refused with a 422 naming them, never a 500, never misread."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.api_parcours import champs_en_erreur
from tests.integration.conftest import Lecture


async def test_dossiers_q_nul_answers_500(lecture: Lecture) -> None:
    """Regression: PostgreSQL refused U+0000 in the search text (CharacterNotInRepertoireError), a 500."""
    reponse = await lecture.get("/v1/dossiers", q="\x00")

    assert champs_en_erreur(reponse) == ["query.q"]


@pytest.mark.parametrize("chemin", ["/v1/dossiers", "/v1/echeances"])
@pytest.mark.parametrize("valeur", ["a\x00b", "a\x1bb", "\u202e", " "])
async def test_a_nul_in_referent_id_answers_500(lecture: Lecture, chemin: str, valeur: str) -> None:
    """Regression: ``referent_id=a%00b`` went to PostgreSQL as is (a 500); control and
    bidirectional characters are refused as in any text (DOMAIN.md)."""
    reponse = await lecture.get(chemin, role="referent", referent_id=valeur)

    assert champs_en_erreur(reponse) == ["query.referent_id"]


async def test_audit_acces_sub_nul_answers_500(lecture: Lecture) -> None:
    """Regression: ``sub=%00`` on the access log was a 500."""
    # ``sub`` as a query parameter (``lecture.get``'s own ``sub`` names the token's).
    reponse = await lecture.client.get(
        "/v1/audit/acces", params={"sub": "\x00"}, headers=lecture.api.jeton("auditeur", ("59",))
    )

    assert champs_en_erreur(reponse) == ["query.sub"]


@pytest.mark.parametrize(
    "valeur", ["0", "1700000000", "2026-01-31T10:00:00", "2026-01-31", "2026-01-31 10:00:00Z", "demain"]
)
async def test_connu_le_0_is_read_as_1970(lecture: Lecture, valeur: str) -> None:
    """Regression: ``connu_le=0`` was read as a Unix time, 1970-01-01; API.md says RFC 3339 with zone."""
    reponse = await lecture.get(
        f"/v1/audit/parcours/{uuid.uuid4()}/etat", role="auditeur", connu_le=valeur, date_effet="2026-01-31"
    )

    assert champs_en_erreur(reponse) == ["query.connu_le"]


@pytest.mark.parametrize(
    ("chemin", "parametre", "valeur"),
    [
        ("/v1/echeances", "avant", "20260131"),
        ("/v1/echeances", "avant", "0"),
        ("/v1/echeances", "avant", "2026-01-31T00:00:00"),
        ("/v1/echeances", "avant", "1899-12-31"),
        ("/v1/audit/parcours/{p}/etat", "date_effet", "1700000000"),
    ],
)
async def test_a_day_given_as_a_number_is_read_as_a_unix_time(
    lecture: Lecture, chemin: str, parametre: str, valeur: str
) -> None:
    """Regression: a day accepted a number (a Unix time) and a timestamp; API.md says AAAA-MM-JJ."""
    reponse = await lecture.get(
        chemin.replace("{p}", str(uuid.uuid4())),
        role="auditeur" if "audit" in chemin else "referent",
        **{parametre: valeur},
    )

    assert champs_en_erreur(reponse) == [f"query.{parametre}"]


@pytest.mark.parametrize(
    ("chemin", "role"),
    [("/v1/dossiers", "referent"), ("/v1/echeances", "referent"), ("/v1/pilotage/occupation", "encadrant")],
)
async def test_an_unknown_query_parameter_is_silently_ignored(lecture: Lecture, chemin: str, role: str) -> None:
    """Regression: ``?departemnt=59`` (a typo) was ignored, and the answer covered every département."""
    reponse = await lecture.get(chemin, role=role, departemnt="59")

    assert champs_en_erreur(reponse) == ["query.departemnt"]


@pytest.mark.parametrize(
    ("chemin", "role", "champ"),
    [
        ("/v1/dossiers/{sans_tirets}", "referent", "path.parcours_id"),
        ("/v1/audit/parcours/{sans_tirets}/chronologie", "auditeur", "path.parcours_id"),
        ("/v1/lieux/{sans_tirets}/occupation", "referent", "path.lieu_id"),
        ("/v1/dossiers?lieu_id={sans_tirets}", "referent", "query.lieu_id"),
        ("/v1/audit/acces?parcours_id={sans_tirets}", "auditeur", "query.parcours_id"),
    ],
)
async def test_an_id_without_hyphens_reads_the_same_dossier(
    lecture: Lecture, chemin: str, role: str, champ: str
) -> None:
    """Regression: 32 hex digits (or braces, or ``urn:uuid:``) named the same dossier as its id, and the
    access log recorded each spelling apart."""
    reponse = await lecture.get(chemin.replace("{sans_tirets}", uuid.uuid4().hex), role=role)

    assert champs_en_erreur(reponse) == [champ]


async def test_valid_values_still_read(lecture: Lecture) -> None:
    dossiers = await lecture.get("/v1/dossiers", role="referent", q="Martin", referent_id="r-1", departement="59")
    echeances = await lecture.get("/v1/echeances", role="referent", avant="2026-12-31", referent_id="é")
    etat = await lecture.get(
        f"/v1/audit/parcours/{uuid.uuid4()}/etat",
        role="auditeur",
        date_effet="2026-01-31",
        connu_le="2026-01-31T10:00:00.5+01:00",
    )

    assert dossiers.status_code == 200, dossiers.text
    assert echeances.status_code == 200, echeances.text
    assert etat.status_code == 404, etat.text
