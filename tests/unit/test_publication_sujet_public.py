"""The public topic is clean by construction (issue 9, item 4): what each event may and may not carry there.

- every event type publishes only the fields its contract allow-lists, whatever else the store holds;
- a court's reference, a private lieu's name and the exact dates of the events dated by the 18th
  birthday travel only on the restricted topic, beside the public record;
- no date on the public topic of a parcours is its 18th birthday where the write side dated it so.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from contracts.enveloppe import TOPIC_PARCOURS, TOPIC_RESTREINT
from contracts.evenements import PAYLOADS_COURANTS
from contracts.publication import (
    CHAMPS_RESTREINTS,
    Message,
    cle_restreinte,
    messages_stockes,
    nom_evenement,
    tombstone_restreint,
)
from contracts.restreint import TYPE_FAITS_RESTREINTS, FaitsRestreints
from droit.calendrier import ajouter, anniversaire
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.lieu import LieuAccueil
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.domain.vocabulaire import Autorite, Cadre, Nature, Sexe, TypeLieu
from services.parcours.publication import messages
from tests.unit.test_proprietes import ParcoursAuHasard

_STOCKES_V1: list[dict[str, Any]] = json.loads((Path(__file__).parent / "stockes_v1.json").read_text())
"""One stored event of every class (the store keeps each for ever): the property below runs over all of them."""

_PRIVE = "Mme Claire Dupont née le 03/04/2007, TGI Lille 25/00042"
"""What a field the contract does not declare might hold: a name, a birth date, a court's reference."""


def _ctx(jour: date) -> Contexte:
    return Contexte("referent-7", datetime(jour.year, jour.month, jour.day, 12, tzinfo=UTC), "corr", "req")


def _corps(m: Message) -> dict[str, Any]:
    return dict(orjson.loads(m.valeur or b"null") or {})


def _publics(evenement: Any) -> list[Message]:
    return [m for m in messages(evenement) if m.topic != TOPIC_RESTREINT]


def _restreint(evenement: Any) -> dict[str, Any] | None:
    faits = [_corps(m) for m in messages(evenement) if m.topic == TOPIC_RESTREINT]
    return faits[0]["champs"] if faits else None


# -- the allow-list, over every event type ---------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stocke=st.sampled_from(_STOCKES_V1),
    prives=st.dictionaries(
        st.sampled_from(["nom", "prenoms", "motif_libre", "commentaire", "adresse", "telephone", "note_du_juge"]),
        st.sampled_from([_PRIVE, "Claire Dupont", "2007-04-03"]),
        max_size=4,
    ),
)
def test_every_event_type_publishes_only_its_allow_listed_fields(
    stocke: dict[str, Any], prives: dict[str, str]
) -> None:
    """Whatever the store holds beside the contract's fields, the public body holds the allow-list only."""
    nom = nom_evenement(stocke["topic"])
    etat = {**stocke["state"], **{cle: valeur for cle, valeur in prives.items() if cle not in stocke["state"]}}
    publies = messages_stockes(
        UUID(stocke["originator_id"]), stocke["originator_version"], stocke["topic"], orjson.dumps(etat)
    )
    for m in publies:
        if m.topic == TOPIC_RESTREINT:
            faits = FaitsRestreints.model_validate_json(m.valeur or b"")
            assert faits.evenement == nom
            assert set(faits.champs) <= CHAMPS_RESTREINTS | {"ancienne_valeur", "nouvelle_valeur"}
            assert dict(m.entetes)["ce_type"] == TYPE_FAITS_RESTREINTS.encode()
            continue
        if m.valeur is None:
            continue  # an erasure's tombstone
        corps = _corps(m)
        assert set(corps) <= PAYLOADS_COURANTS[nom].champs_publics(), nom
        if m.topic == TOPIC_PARCOURS:
            assert "reference_decision" not in corps, nom
            assert "date_naissance" not in corps, nom
            assert not ({"nom", "prenoms"} & set(corps)) or nom == "LieuAccueilReference", nom
            for valeur in set(prives.values()) - set(map(str, stocke["state"].values())):
                assert valeur.encode() not in (m.valeur or b""), (nom, valeur)


def test_the_samples_cover_every_published_event_type() -> None:
    assert {nom_evenement(s["topic"]) for s in _STOCKES_V1} >= set(PAYLOADS_COURANTS)


# -- court references -------------------------------------------------------------------------------


def _parcours(naissance: date = date(2012, 4, 3), ouvert: date = date(2025, 1, 6)) -> Parcours:
    return Parcours.ouvrir(
        _ctx(ouvert), personne_id=uuid4(), date_naissance=naissance, sexe=Sexe.F, departement="59", date_effet=ouvert
    )


def test_reference_decision_is_not_on_the_public_topic_neither_in_the_measure_nor_in_its_rectification() -> None:
    p = _parcours()
    jour = date(2025, 1, 7)
    mesure = p.decider_mesure(
        _ctx(jour),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-2025/00042",
        date_debut=jour,
        date_echeance=date(2026, 1, 6),
        date_effet=jour,
    )
    decision = p.pending_events[-1]
    p.renouveler_mesure(
        _ctx(date(2025, 12, 1)),
        mesure_id=mesure,
        nouvelle_echeance=date(2027, 1, 6),
        reference_decision="JE-2025/00777",
        date_effet=date(2025, 12, 1),
    )
    renouvellement = p.pending_events[-1]
    p.rectifier(
        _ctx(date(2025, 12, 2)),
        version_rectifiee=decision.originator_version,
        champ="reference_decision",
        nouvelle_valeur="JE-2025/00043",
        motif="erreur de saisie",
    )
    rectification = p.pending_events[-1]

    for evenement in p.pending_events:
        for m in _publics(evenement):
            assert b"JE-2025" not in (m.valeur or b""), type(evenement).__name__
    assert "reference_decision" not in _corps(_publics(decision)[0])
    corps = _corps(_publics(rectification)[0])
    assert (corps["champ"], corps["ancienne_valeur"], corps["nouvelle_valeur"]) == ("reference_decision", None, None)
    # The département's caseworkers get them from the restricted topic.
    assert _restreint(decision) == {"reference_decision": "JE-2025/00042"}
    assert _restreint(renouvellement) == {"reference_decision": "JE-2025/00777"}
    assert _restreint(rectification) == {"ancienne_valeur": "JE-2025/00042", "nouvelle_valeur": "JE-2025/00043"}


def test_the_restricted_record_goes_first_beside_the_public_one_with_the_same_stream_and_version() -> None:
    p = _parcours()
    jour = date(2025, 1, 7)
    p.decider_mesure(
        _ctx(jour),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.OPP,
        autorite=Autorite.PARQUET,
        reference_decision="PQ-1",
        date_debut=jour,
        date_echeance=None,
        date_effet=jour,
    )
    restreint, public = messages(p.pending_events[-1])
    assert (restreint.topic, public.topic) == (TOPIC_RESTREINT, TOPIC_PARCOURS)
    # One key a restricted record (the topic is compacted: an erasure tombstones each of them).
    assert public.cle == str(p.id).encode()
    assert restreint.cle == f"{p.id}:{public.version}".encode() == cle_restreinte(p.id, public.version)
    entetes_r, entetes_p = dict(restreint.entetes), dict(public.entetes)
    for cle in ("ce_subject", "ce_sequence", "ce_source", "ce_time", "ce_correlationid", "ce_auteur"):
        assert entetes_r[cle] == entetes_p[cle], cle
    assert entetes_r["ce_id"] != entetes_p["ce_id"]


# -- the assistant familial's name ------------------------------------------------------------------


def test_the_assistant_familial_s_name_is_absent_from_the_public_topic_and_travels_restricted() -> None:
    jour = date(2025, 1, 6)
    for type_lieu in (TypeLieu.ASSISTANT_FAMILIAL, TypeLieu.TIERS_DIGNE_DE_CONFIANCE):
        lieu = LieuAccueil.referencer(
            _ctx(jour), nom="Mme Claire Dupont", type=type_lieu, departement="59", capacite=2, finess=None
        )
        reference = lieu.collect_events()[0]
        public = _publics(reference)[0]
        assert _corps(public)["nom"] is None
        assert b"Dupont" not in (public.valeur or b"")
        assert _restreint(reference) == {"nom": "Mme Claire Dupont"}
    mecs = LieuAccueil.referencer(
        _ctx(jour), nom="MECS Les Tilleuls", type=TypeLieu.MECS, departement="59", capacite=20, finess=None
    )
    reference = mecs.collect_events()[0]
    assert _corps(_publics(reference)[0])["nom"] == "MECS Les Tilleuls"
    assert _restreint(reference) is None


# -- majority dated by month only -------------------------------------------------------------------


def test_majority_and_the_ends_it_implies_are_dated_by_month_only_on_the_public_topic() -> None:
    naissance = date(2007, 4, 3)
    p = _parcours(naissance, date(2025, 1, 6))
    jour = date(2025, 1, 7)
    mesure = p.decider_mesure(
        _ctx(jour),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-1",
        date_debut=jour,
        date_echeance=date(2026, 1, 6),
        date_effet=jour,
    )
    p.debuter_accueil(_ctx(jour), mesure_id=mesure, lieu=LieuPropose(uuid4(), TypeLieu.MECS, False), date_effet=jour)
    p.declarer_fugue(_ctx(date(2025, 3, 1)), date_effet=date(2025, 3, 1))
    avant = len(p.pending_events)
    p.atteindre_majorite(_ctx(date(2025, 4, 10)))
    majorite = p.pending_events[avant:]
    assert {type(e).__name__ for e in majorite} == {
        "MajoriteAtteinte",
        "FugueTerminee",
        "AccueilTermine",
        "MesureLevee",
    }
    # A birth date corrected afterwards re-dates them, in corrections.
    p.rectifier(
        _ctx(date(2025, 4, 11)),
        version_rectifiee=1,
        champ="date_naissance",
        nouvelle_valeur="2007-04-05",
        motif="acte de naissance",
    )
    redatees = [e for e in p.pending_events[avant + len(majorite) :] if e.champ == "date_effet"]  # type: ignore[attr-defined]
    assert len(redatees) == len(majorite)

    for e in [*majorite, *redatees]:
        corps = _corps(_publics(e)[0])
        assert corps["date_effet"] is None, type(e).__name__
        assert corps["mois_effet"] == "2025-04"
        assert _restreint(e) is not None
        assert _restreint(e)["date_effet"] in ("2025-04-03", "2025-04-05")  # type: ignore[index]
    for e in redatees:
        corps = _corps(_publics(e)[0])
        assert (corps["ancienne_valeur"], corps["nouvelle_valeur"]) == (None, None)
        assert _restreint(e) == {
            "date_effet": "2025-04-05",
            "ancienne_valeur": "2025-04-03",
            "nouvelle_valeur": "2025-04-05",
        }
    for e in p.pending_events:
        for m in _publics(e):
            for jour_exact in ("2025-04-03", "2025-04-05", "2007-04-03", "2007-04-05"):
                assert jour_exact.encode() not in (m.valeur or b""), (type(e).__name__, jour_exact)


# -- the property, over random parcours ---------------------------------------------------------------


def _dates(valeur: Any) -> set[date]:
    """Every ISO date held anywhere in a published body."""
    if isinstance(valeur, dict):
        return {d for v in valeur.values() for d in _dates(v)}
    if isinstance(valeur, list):
        return {d for v in valeur for d in _dates(v)}
    if isinstance(valeur, str) and len(valeur) == 10:
        try:
            return {date.fromisoformat(valeur)}
        except ValueError:
            return set()
    return set()


_DATEES_PAR_L_ANNIVERSAIRE = (
    "MajoriteAtteinte",
    "FugueTerminee",
    "AccompagnementJeuneMajeurAccorde",
    "AccompagnementJeuneMajeurRenouvele",
)
"""The kinds the domain may date on the 18th birthday whatever their motif: majority, the end of a fugue (majority
ends it), an APJM's grant decided before majority (it starts that day) and its renewals."""

_EVENEMENTS_DATES_PAR_L_ANNIVERSAIRE = (*_DATEES_PAR_L_ANNIVERSAIRE, "AccueilTermine", "MesureLevee")
"""What a correction may re-date by the 18th birthday (``contracts.publication.DATES_PAR_ANNIVERSAIRE``)."""


def _peut_etre_date_par_l_anniversaire(evenement: Any) -> bool:
    """Whether the domain may have dated ``evenement`` on the 18th birthday (independently of the commit)."""
    nom = type(evenement).__name__
    if nom in _DATEES_PAR_L_ANNIVERSAIRE:
        return True
    return nom in ("AccueilTermine", "MesureLevee") and str(getattr(evenement.motif, "value", "")) == "majorite"


class PublicationAuHasard(ParcoursAuHasard):
    """Random parcours (the domain's own state machine), checked on what they publish after every step."""

    @rule(index=st.integers(min_value=0, max_value=12), jours=st.integers(min_value=1, max_value=9))
    def rectifier_reference(self, index: int, jours: int) -> None:
        decisions = [e for e in self.p.pending_events if isinstance(e, ev.MesureDecidee | ev.MesureRenouvelee)]
        if not decisions:
            return
        cible = decisions[index % len(decisions)]
        self.executer(
            lambda: self.p.rectifier(
                self.ctx(),
                version_rectifiee=cible.originator_version,
                champ="reference_decision",
                nouvelle_valeur=f"TJ-{jours}",
                motif="saisie",
            )
        )

    @rule(avant=st.integers(min_value=0, max_value=400), mois=st.integers(min_value=1, max_value=36))
    def accorder_apjm_avant_majorite(self, avant: int, mois: int) -> None:
        """An APJM decided before majority: it starts on the 18th birthday (the rule), and takes effect then.

        The base machine's APJM always took effect on the day it was decided, and the invariant below
        looked only at the majority's commit: a grant dated on the birthday was never generated, nor checked.
        """
        debut = anniversaire(self.p.date_naissance, 18)
        self.executer(
            lambda: self.p.accorder_apjm(
                self.ctx(),
                date_debut=debut,
                date_fin=ajouter(debut, mois=mois),
                date_effet=debut if avant % 2 == 0 else debut - timedelta(days=avant),
            )
        )

    @rule()
    def atteindre_majorite_le_jour_de_l_anniversaire(self) -> None:
        """Majority recorded on the 18th birthday itself, as the majority clock records it.

        The base machine records it on whatever day "today" is: the recording time, ``ce_time``, was never
        the birthday, nor checked.
        """
        dix_huit_ans = anniversaire(self.p.date_naissance, 18)
        if dix_huit_ans < self.today:
            return
        self.today = dix_huit_ans
        self.executer(lambda: self.p.atteindre_majorite(self.ctx()))

    def ctx(self) -> Contexte:
        return _ctx(self.today)

    @invariant()
    def le_sujet_public_ne_porte_que_la_liste_autorisee(self) -> None:
        naissances = {self.p.date_naissance} | {
            date.fromisoformat(str(e.nouvelle_valeur))
            for e in self.p.pending_events
            if isinstance(e, ev.SaisieRectifiee) and e.champ == "date_naissance"
        }
        ouverture = self.p.pending_events[0]
        naissances.add(ouverture.date_naissance)  # type: ignore[attr-defined]
        anniversaires = {anniversaire(n, 18) for n in naissances}
        datees_par_la_majorite = {
            id(e)
            for commit, _ in self.commits
            if any(isinstance(e, ev.MajoriteAtteinte) for e in commit)
            for e in commit
        }
        for evenement in self.p.pending_events:
            nom = type(evenement).__name__
            for m in messages(evenement):
                if m.topic == TOPIC_RESTREINT:
                    continue
                corps = _corps(m)
                instant = datetime.fromisoformat(dict(m.entetes)["ce_time"].decode())
                if _peut_etre_date_par_l_anniversaire(evenement) or (
                    isinstance(evenement, ev.SaisieRectifiee)
                    and evenement.evenement_rectifie in _EVENEMENTS_DATES_PAR_L_ANNIVERSAIRE
                ):
                    # Its recording time would tell the day: the first instant of its month (UTC) only.
                    assert instant == datetime(instant.year, instant.month, 1, tzinfo=UTC), (nom, instant)
                if id(evenement) in datees_par_la_majorite and instant.day != 1:
                    assert instant.astimezone(UTC).date() not in anniversaires, (nom, instant)
                assert set(corps) <= PAYLOADS_COURANTS[nom].champs_publics(), nom
                assert "reference_decision" not in corps
                assert not naissances & _dates(corps), nom  # never the birth date
                redate = isinstance(evenement, ev.SaisieRectifiee) and (
                    evenement.champ in ("date_naissance", "reference_decision", "motif")
                    or evenement.evenement_rectifie in _DATEES_PAR_L_ANNIVERSAIRE
                )
                verifiees = corps
                if isinstance(evenement, ev.SaisieRectifiee) and not _peut_etre_date_par_l_anniversaire(
                    self.p.pending_events[evenement.version_rectifiee - 1]
                ):
                    # Dated by the event it corrects, whose date the caller chose and which is public with it.
                    verifiees = {cle: valeur for cle, valeur in corps.items() if cle != "date_effet"}
                if id(evenement) in datees_par_la_majorite or redate:
                    assert not anniversaires & _dates(verifiees), (nom, corps)
                # Whatever its commit: an event of a kind the domain may date by the 18th birthday never
                # shows its date_effet (any birthday, corrected or not, would follow from it).
                if _peut_etre_date_par_l_anniversaire(evenement):
                    assert corps["date_effet"] is None, (nom, corps)
                    assert not anniversaires & _dates(corps), (nom, corps)
                if isinstance(evenement, ev.SaisieRectifiee) and evenement.champ == "reference_decision":
                    assert (corps["ancienne_valeur"], corps["nouvelle_valeur"]) == (None, None)
                if isinstance(evenement, ev.SaisieRectifiee | ev.ParcoursRouvert):
                    assert b"saisie" not in (m.valeur or b"")
                    assert b"nouvelle IP" not in (m.valeur or b"")


TestPublicationAuHasard = PublicationAuHasard.TestCase
TestPublicationAuHasard.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_no_public_date_of_a_parcours_is_its_18th_birthday_where_majority_dated_it() -> None:
    """The deterministic story behind the property: every day of majority, over a year of birthdays."""
    for decalage in range(0, 366, 7):
        naissance = date(2007, 1, 1) + timedelta(days=decalage)
        p = _parcours(naissance, date(2024, 12, 1))
        p.accorder_apjm(
            _ctx(date(2024, 12, 2)),
            date_debut=anniversaire(naissance, 18),
            date_fin=anniversaire(naissance, 21) - timedelta(days=1),
            date_effet=date(2024, 12, 2),
        )
        p.atteindre_majorite(_ctx(anniversaire(naissance, 18) + timedelta(days=3)))
        apjm = next(e for e in p.pending_events if isinstance(e, ev.AccompagnementJeuneMajeurAccorde))
        assert {k for k in _corps(_publics(apjm)[0]) if k.startswith(("date_", "mois_"))} == {
            "date_effet",
            "mois_effet",
            "mois_debut",
            "mois_fin",
        }
        assert _corps(_publics(apjm)[0])["date_effet"] is None
        assert _restreint(apjm) == {
            "date_effet": "2024-12-02",
            "date_debut": anniversaire(naissance, 18).isoformat(),
            "date_fin": (anniversaire(naissance, 21) - timedelta(days=1)).isoformat(),
        }
        for e in p.pending_events:
            for m in _publics(e):
                assert anniversaire(naissance, 18) not in _dates(_corps(m)), type(e).__name__
                assert anniversaire(naissance, 21) - timedelta(days=1) not in _dates(_corps(m)), type(e).__name__


def test_a_restricted_tombstone_has_the_key_of_the_record_it_removes_and_no_value() -> None:
    flux = uuid4()
    tombstone = tombstone_restreint(flux, 7)
    assert (tombstone.topic, tombstone.cle, tombstone.valeur, tombstone.entetes) == (
        TOPIC_RESTREINT,
        f"{flux}:7".encode(),
        None,
        [],
    )


def test_a_majority_recorded_just_after_midnight_in_paris_on_the_1st_gets_the_ce_time_of_its_paris_month() -> None:
    # 00:30 in Paris on 1 March is 23:30 UTC on 28 February: a ce_time in February beside a mois_effet
    # in March would tell a recording in the first hour of the 1st, i.e. a birthday on the 1st.
    from datetime import UTC, datetime

    from contracts.publication import debut_du_mois

    assert debut_du_mois(datetime(2026, 2, 28, 23, 30, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert debut_du_mois(datetime(2026, 3, 31, 21, 59, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert debut_du_mois(datetime(2026, 3, 31, 22, 0, tzinfo=UTC)) == datetime(2026, 4, 1, tzinfo=UTC)
