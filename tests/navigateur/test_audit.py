"""The auditor's and the DPO's pages: the chronology with its corrections, the state on a date as known at a
time, the access log of the auditor's own reads, the erasure with its confirmation step; the gates.

Seeded in département 03, which no other page test uses.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from services.runtime.horloge import FUSEAU
from tests.navigateur.outils import Serveur, commande, ouvrir_parcours, rattrape, se_connecter, verifier_accessibilite

DEP = "03"  # no other browser test writes to it


def evenement(auditeur: httpx.Client, parcours_id: str, nom: str) -> dict[str, Any] | None:
    reponse = auditeur.get(f"/v1/audit/parcours/{parcours_id}/chronologie")
    if reponse.status_code != 200:
        return None
    return next((e for e in reponse.json()["evenements"] if e["nom"] == nom), None)


def local(instant: datetime) -> str:
    """An instant as the ``datetime-local`` picker takes it: Paris time, to the millisecond."""
    moment = instant.astimezone(FUSEAU)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def test_an_auditor_sees_a_correction_beside_what_it_corrects_and_the_state_as_known_before_it(
    page: Page, serveur: Serveur
) -> None:
    referent = serveur.api("referent", (DEP,))
    auditeur = serveur.api("auditeur", (DEP,))
    parcours = ouvrir_parcours(referent, nom="Aubusson", departement=DEP, date_effet=date(2026, 1, 5))
    pid = str(parcours["id"])
    commande(
        referent,
        f"/v1/parcours/{pid}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": "JE-23-1",
            "date_debut": "2026-03-01",
            "date_echeance": "2027-02-28",
            "date_effet": "2026-03-01",
        },
    )
    mesure = rattrape(lambda: evenement(auditeur, pid, "MesureDecidee"))
    commande(
        referent,
        f"/v1/parcours/{pid}/rectifications",
        {
            "version_rectifiee": mesure["version"],
            "champ": "date_echeance",
            "nouvelle_valeur": "2027-01-31",
            "motif": "échéance mal recopiée du jugement",
        },
    )
    correction = rattrape(lambda: (e := evenement(auditeur, pid, "MesureDecidee")) and e["rectifications"])[0]
    decidee_le = datetime.fromisoformat(mesure["enregistre_le"])
    corrigee_le = datetime.fromisoformat(correction["enregistre_le"])
    assert decidee_le < corrigee_le
    avant_correction = decidee_le + (corrigee_le - decidee_le) / 2

    def mes_lectures() -> int:
        reponse = auditeur.get("/v1/audit/acces", params={"parcours_id": pid, "sub": "auditrice-23"})
        total: int = reponse.json()["total"]
        return total

    assert mes_lectures() == 0

    se_connecter(page, "auditeur", DEP, sub="auditrice-23")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit")
    verifier_accessibilite(page)
    page.get_by_label("Identifiant du parcours").fill(pid)
    page.get_by_role("button", name="Ouvrir le parcours").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit du parcours")

    # The chronology: author, recording time, effective date; the correction inside what it corrects.
    decision = page.locator(f"li#v{mesure['version']}")
    expect(decision).to_contain_text("Mesure décidée")
    expect(decision).to_contain_text("1er mars 2026")
    expect(decision).to_contain_text("par api-test")
    expect(decision.locator(".correction")).to_contain_text("date_echeance passe de 2027-02-28 à 2027-01-31")
    expect(page.locator(f"li#v{correction['version']}")).to_contain_text(f"Corrige la version {mesure['version']}")
    verifier_accessibilite(page)

    # Today, as known now: the corrected échéance.
    mesures = page.get_by_role("table", name="Mesures en cours à cette date")
    expect(mesures.get_by_role("row", name="confiage_ase")).to_contain_text("31 janvier 2027")

    # On 1 June 2026, as known before the correction: the échéance first recorded.
    page.get_by_label("Date d'effet").fill("2026-06-01")
    page.get_by_label("Connu le (ce qui était enregistré").fill(local(avant_correction))
    page.get_by_role("button", name="Afficher l'état").click()
    expect(page.get_by_role("heading", name="État au 1er juin 2026")).to_be_visible()
    expect(mesures.get_by_role("row", name="confiage_ase")).to_contain_text("28 février 2027")
    expect(page.get_by_text("Corrections appliquées").locator("xpath=following-sibling::dd[1]")).to_have_text("aucune")

    # As known after it: the corrected one, on the same date.
    page.get_by_label("Connu le (ce qui était enregistré").fill(local(corrigee_le + timedelta(milliseconds=1)))
    page.get_by_role("button", name="Afficher l'état").click()
    expect(mesures.get_by_role("row", name="confiage_ase")).to_contain_text("31 janvier 2027")

    # The correction links to the state as known just before it.
    page.get_by_role(
        "link", name="Voir l'état au 1er mars 2026 tel qu'il était connu juste avant cette correction"
    ).click()
    expect(page.get_by_role("heading", name="État au 1er mars 2026")).to_be_visible()
    expect(mesures.get_by_role("row", name="confiage_ase")).to_contain_text("28 février 2027")

    # Before the measure began, there was none.
    page.get_by_label("Date d'effet").fill("2026-02-01")
    page.get_by_role("button", name="Afficher l'état").click()
    expect(page.get_by_text("Aucune mesure en cours à cette date.")).to_be_visible()
    verifier_accessibilite(page)

    # Every page read was recorded: the auditor's own reads of this parcours are in the log.
    assert mes_lectures() >= 8  # 4 pages, each reading the chronology and the state
    page.get_by_role("link", name="Voir qui a consulté ce parcours").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal des accès")
    journal = page.get_by_role("table")
    expect(journal.get_by_role("row").filter(has_text="auditrice-23").first).to_be_visible()
    expect(journal.get_by_role("row").filter(has_text=f"/v1/audit/parcours/{pid}/chronologie").first).to_be_visible()
    verifier_accessibilite(page)

    # The filters are a GET form: the reads of someone else are not these.
    page.get_by_label("Qui (identifiant de la personne connectée)").fill("personne-d-autre")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_text("Aucune lecture ne correspond à ces filtres.")).to_be_visible()
    assert "sub=personne-d-autre" in page.url

    # A period, in Paris time: the reads since the test began are there, none from tomorrow on.
    page.get_by_label("Qui (identifiant de la personne connectée)").fill("auditrice-23")
    page.get_by_label("Depuis (heure de Paris)").fill(local(decidee_le)[:19])
    page.get_by_role("button", name="Filtrer").click()
    expect(journal.get_by_role("row").filter(has_text="auditrice-23").first).to_be_visible()
    page.get_by_label("Depuis (heure de Paris)").fill(local(datetime.now(FUSEAU) + timedelta(days=1))[:19])
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_text("Aucune lecture ne correspond à ces filtres.")).to_be_visible()


def test_a_dpo_erases_a_person_after_confirming_and_her_name_is_gone(page: Page, serveur: Serveur) -> None:
    referent = serveur.api("referent", (DEP,))
    parcours = ouvrir_parcours(referent, nom="Guéret", prenoms="Maëlle", departement=DEP)
    pid, personne_id = str(parcours["id"]), str(parcours["personne_id"])

    def identite() -> dict[str, Any] | None:
        reponse = referent.get(f"/v1/dossiers/{pid}")
        return reponse.json()["identite"] if reponse.status_code == 200 else None

    assert rattrape(identite)["nom"] == "Guéret"

    se_connecter(page, "dpo", DEP, sub="dpo-23")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit")
    verifier_accessibilite(page)
    page.get_by_role("link", name="Effacer l'identité d'une personne").click()
    verifier_accessibilite(page)
    page.get_by_label("Identifiant de la personne").fill(personne_id)
    page.get_by_label("Motif").select_option("fin_de_conservation")
    page.get_by_role("button", name="Continuer").click()

    # The first POST only shows what will be erased and asks to confirm: nothing is erased yet.
    expect(page.get_by_role("heading", name="Ce qui va être effacé")).to_be_visible()
    expect(page.locator("section.message--alerte")).to_contain_text(personne_id)
    expect(page.locator("section.message--alerte")).to_contain_text("Fin de la durée de conservation")
    verifier_accessibilite(page)
    assert identite() == {"nom": "Guéret", "prenoms": "Maëlle", "date_naissance": "2012-05-03", "effacee": False}

    page.get_by_label("Pour confirmer, tapez EFFACER").fill("effacer peut-être")
    page.get_by_role("button", name="Effacer définitivement").click()
    champ = page.get_by_label("Pour confirmer, tapez EFFACER")
    expect(champ).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#confirmation-erreur")).to_have_text("Pour confirmer, tapez EFFACER en majuscules.")
    assert (identite() or {}).get("nom") == "Guéret"
    verifier_accessibilite(page)

    champ.fill("EFFACER")
    page.get_by_role("button", name="Effacer définitivement").click()
    expect(page.get_by_role("status")).to_contain_text(f"L'identité de la personne {personne_id} est effacée")
    verifier_accessibilite(page)
    effacee = rattrape(lambda: (i := identite()) is not None and i["effacee"] and i)
    assert (effacee["nom"], effacee["prenoms"], effacee["date_naissance"]) == (None, None, None)

    # Erasing her again is refused, in words, next to the field.
    page.get_by_label("Identifiant de la personne").fill(personne_id)
    page.get_by_label("Motif").select_option("autre")
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Pour confirmer, tapez EFFACER").fill("EFFACER")
    page.get_by_role("button", name="Effacer définitivement").click()
    expect(page.locator("#personne_id-erreur")).to_have_text("L'identité de cette personne est déjà effacée.")
    expect(page.get_by_label("Identifiant de la personne")).to_have_attribute("aria-invalid", "true")
    verifier_accessibilite(page)


def test_the_audit_pages_are_gated_as_the_audit_apis(page: Page) -> None:
    se_connecter(page, "referent", DEP)
    for chemin in ("/pages/audit", "/pages/audit/acces", "/pages/audit/effacement"):
        reponse = page.goto(chemin)
        assert reponse is not None
        assert (chemin, reponse.status) == (chemin, 403)
        expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    verifier_accessibilite(page)


def test_an_auditor_may_not_erase_and_a_dpo_may_not_read_the_chronology(page: Page) -> None:
    se_connecter(page, "auditeur", DEP)
    reponse = page.goto("/pages/audit/effacement")
    assert reponse is not None
    assert reponse.status == 403
    page.context.clear_cookies()
    se_connecter(page, "dpo", DEP)
    expect(page.get_by_role("link", name="Consulter le journal des accès")).to_have_count(0)
    reponse = page.goto("/pages/audit/acces")
    assert reponse is not None
    assert reponse.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
