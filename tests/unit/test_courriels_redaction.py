"""What an e-mail of the alerts may say, the address check, the digest hour and the retry delays (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from contracts.alertes import Alerte, par_anniversaire
from services.notifications import courriels, redaction
from services.notifications.destinataires import MOTIF, adresse_valide
from services.notifications.settings import NotificationsSettings
from tests.integration.smtp_local import MAINTENANT, alerte

REGLAGES = NotificationsSettings.model_validate({"smtp_hote": "smtp.test", "lien_base": "https://lecture.test/"})


def test_an_alert_has_no_field_for_a_name_a_birth_date_or_free_text() -> None:
    """An e-mail is written from an alert only: a field added to it must be reviewed here first."""
    assert set(Alerte.model_fields) == {
        "alerte_id",
        "parcours_id",
        "departement",
        "departement_precedent",
        "referent_id",
        "type",
        "cle",
        "due_le",
        "mois_du",
        "alerte_le",
        "attendu",
        "article",
        "urgente",
        "informative",
        "niveau",
        "statut",
        "lien",
        "levee_le",
        "modifiee_le",
    }


def test_a_deadline_that_follows_from_the_birth_date_is_written_as_its_month_only() -> None:
    majorite = par_anniversaire(alerte(urgente=True, due_le=date(2027, 1, 20), type_="majorite"))
    ecrit = redaction.rediger(REGLAGES, "cle", "urgent", [majorite], adresse="a@b.fr", maintenant=MAINTENANT)
    assert "courant janvier 2027" in ecrit.texte
    assert "courant janvier 2027" in ecrit.sujet
    assert "20 janvier" not in ecrit.texte + ecrit.html + ecrit.sujet


def test_the_html_part_escapes_what_it_is_given_and_the_subject_stays_on_one_line() -> None:
    piege = alerte(urgente=True, attendu="<script>x()</script>\r\nBcc: tous@ailleurs.example")
    ecrit = redaction.rediger(REGLAGES, "cle", "urgent", [piege], adresse="a@b.fr", maintenant=MAINTENANT)
    assert "<script>" not in ecrit.html
    assert "&lt;script&gt;" in ecrit.html
    assert "\n" not in ecrit.sujet
    assert "\r" not in ecrit.sujet
    assert ecrit.message["Bcc"] is None


def test_the_link_is_the_read_apis_base_and_the_dossiers_path() -> None:
    a = alerte()
    assert redaction.lien(REGLAGES, a) == f"https://lecture.test/v1/dossiers/{a.parcours_id}"


def test_an_email_keeps_its_message_id_when_it_is_written_again_on_the_senders_domain() -> None:
    a = alerte(urgente=True)
    un = redaction.rediger(REGLAGES, "k", "urgent", [a], adresse="a@b.fr", maintenant=MAINTENANT)
    deux = redaction.rediger(REGLAGES, "k", "urgent", [a], adresse="a@b.fr", maintenant=datetime.now(UTC))
    assert un.message["Message-ID"] == deux.message["Message-ID"]
    assert un.message["Message-ID"].endswith("@parcours-ase.invalid>")
    assert redaction.message_id("autre", REGLAGES.smtp_expediteur) != un.message["Message-ID"]


def test_dates_are_written_in_french() -> None:
    assert redaction.date_en_toutes_lettres(date(2027, 1, 1)) == "vendredi 1er janvier 2027"
    assert redaction.date_en_toutes_lettres(date(2026, 8, 15)) == "samedi 15 août 2026"


@pytest.mark.parametrize(
    ("instant", "jour"),
    [
        (datetime(2026, 11, 30, 5, 59, tzinfo=UTC), None),  # 06:59 in Paris (UTC+1)
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "2026-11-30"),
        (datetime(2026, 7, 1, 4, 59, tzinfo=UTC), None),  # 06:59 in Paris (UTC+2)
        (datetime(2026, 7, 1, 5, 0, tzinfo=UTC), "2026-07-01"),
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), None),  # 00:30 on 1 December in Paris
    ],
)
def test_the_digest_is_due_from_its_hour_in_paris(instant: datetime, jour: str | None) -> None:
    assert courriels.jour_du_digest(REGLAGES, instant) == jour


def test_retry_delays_double_with_half_of_each_random_up_to_the_max() -> None:
    r = REGLAGES.model_copy(update={"smtp_delai_initial_s": 60.0, "smtp_delai_max_s": 3600.0})
    assert [courriels.delai_reessai_s(r, n, tirage=1.0) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]
    assert courriels.delai_reessai_s(r, 2, tirage=0.0) == 60


@pytest.mark.parametrize(
    ("saisie", "gardee"),
    [("Prenom.Nom+ase@Conseil-Departemental.FR", "Prenom.Nom+ase@conseil-departemental.fr"), ("a@b.co", "a@b.co")],
)
def test_a_plain_address_is_kept_with_its_domain_in_lower_case(saisie: str, gardee: str) -> None:
    assert adresse_valide(saisie) == gardee


@pytest.mark.parametrize(
    "refusee",
    ["a@b.fr\r\nBcc: c@d.fr", "a@b.fr\n", "a b@c.fr", "a@b", "a@b.c0m", "a..b@c.fr", "a@-b.fr", "x" * 65 + "@b.fr"],
)
def test_an_address_with_anything_else_is_refused(refusee: str) -> None:
    with pytest.raises(ValueError, match=r"adresse|partie|domaine") as erreur:
        adresse_valide(refusee)
    assert refusee not in str(erreur.value)  # the message never echoes the address


@pytest.mark.parametrize(
    "adresse",
    ["a@b.fr", "Prenom.Nom+ase@Conseil-Departemental.FR", "a b@c.fr", "a@b", "a..b@c.fr", "x" * 65 + "@b.fr", "é@b.fr"],
)
def test_the_api_schemas_pattern_says_what_the_check_accepts(adresse: str) -> None:
    """So a client (or a fuzzer) generating addresses from the OpenAPI document makes only accepted ones."""
    try:
        adresse_valide(adresse)
        acceptee = True
    except ValueError:
        acceptee = False
    assert (re.search(MOTIF, adresse) is not None) == acceptee
