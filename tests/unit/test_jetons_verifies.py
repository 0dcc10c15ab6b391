"""The verified-token cache: a token is checked once, reused until its ``exp`` and no later; a refusal
is remembered a short time only; the cache is bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.runtime.auth import AuthentificationError, CleDeDeveloppement, JetonsVerifies, Utilisateur, authentifier


@dataclass
class Horloge:
    t: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.t


@dataclass
class Compteur:
    """A dev key that counts its signature checks."""

    cle: CleDeDeveloppement
    appels: int = 0
    bloquant: bool = False

    def verifier(self, jeton: str) -> Utilisateur:
        self.appels += 1
        return self.cle.verifier(jeton)


@pytest.fixture
def cle() -> CleDeDeveloppement:
    return CleDeDeveloppement(ec.generate_private_key(ec.SECP256R1()))


def test_un_jeton_est_verifie_une_fois_jusqu_a_son_expiration(cle: CleDeDeveloppement) -> None:
    horloge = Horloge()
    compteur = Compteur(cle)
    cache = JetonsVerifies(compteur, horloge=horloge)
    jeton = cle.signer(sub="alice", roles=["referent"], departements=["59"], duree_s=600)

    premier = cache.verifier(jeton)
    assert asyncio.run(authentifier(cache, jeton)) == premier
    assert cache.verifier(jeton) == premier
    assert compteur.appels == 1
    assert premier.expire_le is not None

    horloge.t = premier.expire_le - 0.001
    cache.verifier(jeton)
    assert compteur.appels == 1
    horloge.t = premier.expire_le  # its expiry, as the cache sees it: verified again (by the key's own clock)
    cache.verifier(jeton)
    assert compteur.appels == 2


def test_un_refus_n_est_retenu_qu_un_court_instant(cle: CleDeDeveloppement) -> None:
    horloge = Horloge()
    compteur = Compteur(cle)
    cache = JetonsVerifies(compteur, horloge=horloge, echec_s=1.0)
    autre = CleDeDeveloppement(ec.generate_private_key(ec.SECP256R1()))
    faux = autre.signer(sub="mallory", roles=["referent"], departements=["59"])
    for _ in range(3):
        with pytest.raises(AuthentificationError):
            cache.verifier(faux)
    assert compteur.appels == 1
    horloge.t += 1.0
    with pytest.raises(AuthentificationError):
        cache.verifier(faux)
    assert compteur.appels == 2


def test_le_cache_est_borne_et_ne_garde_pas_les_jetons(cle: CleDeDeveloppement) -> None:
    cache = JetonsVerifies(Compteur(cle), taille=3)
    jetons = [cle.signer(sub=f"agent-{i}", roles=["referent"], departements=["59"]) for i in range(5)]
    for jeton in jetons:
        cache.verifier(jeton)
    assert len(cache) == 3
    assert not any(j.encode() in cle_ for j in jetons for cle_ in cache._entrees)
    # The least recently used went first: the first token is verified again.
    compteur = cache.interne
    assert isinstance(compteur, Compteur)
    avant = compteur.appels
    cache.verifier(jetons[0])
    cache.verifier(jetons[4])
    assert compteur.appels == avant + 1
