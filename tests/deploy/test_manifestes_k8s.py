"""Every ``deploy/k8s`` overlay renders with kustomize and passes the checks of ``manifestes.py``, offline.

kustomize is the Makefile's version, built into ``.tools/`` from the Go module
proxy by ``make kustomize`` (which this module runs if it is missing, so a fresh
clone needs only Go). The Kubernetes schemas come with ``kubernetes-validate``.
Each check is shown to fail on a deliberately broken copy of the manifests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services.projections.readmodels import catalogue_des_projections
from services.projections.service import sujet_dlq
from services.runtime.kafka import SUJETS
from tests.deploy.manifestes import GROUPES_SANS_SCHEMA, erreurs_de_references, erreurs_de_schema, rendre

RACINE = Path(__file__).resolve().parents[2]
K8S = RACINE / "deploy" / "k8s"
VERSION_KUBERNETES = "1.33"
"""The Kubernetes version whose API schemas the manifests must pass."""


def _overlays(racine: Path) -> list[Path]:
    return sorted(p.parent for p in (racine / "overlays").glob("*/kustomization.yaml"))


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """The pinned kustomize, installed by ``make kustomize`` when this clone does not have it yet."""
    trouve = re.search(r"^KUSTOMIZE_VERSION := (\S+)$", (RACINE / "Makefile").read_text(), re.MULTILINE)
    assert trouve is not None, "the Makefile pins KUSTOMIZE_VERSION"
    binaire = RACINE / ".tools" / "kustomize" / trouve.group(1) / "kustomize"
    if not binaire.is_file():
        subprocess.run(["make", "--no-print-directory", "kustomize"], cwd=RACINE, check=True, timeout=900)
    assert binaire.is_file(), binaire
    return binaire


def sujets_de(commande: list[str]) -> set[str]:
    """The topics a container of the image uses, from the code: the relay creates and writes the
    project's topics; the projections read theirs and write their dead letters."""
    if commande[:2] == ["ase", "relay"]:
        return {sujet.nom for sujet in SUJETS}
    if commande[:3] == ["ase", "serve", "projections"]:
        projections = catalogue_des_projections()
        return {s for p in projections for s in p.sujets} | {sujet_dlq(p) for p in projections}
    return set()


def _erreurs(overlay: Path, kustomize: Path) -> list[str]:
    ressources = rendre(overlay, kustomize)
    erreurs, _ = erreurs_de_schema(ressources, VERSION_KUBERNETES)
    return erreurs + erreurs_de_references(ressources, sujets_de)


def test_deploy_has_overlays_to_check() -> None:
    assert [p.name for p in _overlays(K8S)] == ["dev"]


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_every_overlay_passes_the_kubernetes_schemas_and_its_references(overlay: Path, kustomize: Path) -> None:
    ressources = rendre(overlay, kustomize)
    erreurs, references_seulement = erreurs_de_schema(ressources, VERSION_KUBERNETES)
    assert not erreurs, "\n".join(erreurs)
    valides = {r["kind"] for r in ressources if r["apiVersion"].split("/")[0] not in GROUPES_SANS_SCHEMA}
    assert valides >= {"Deployment", "Service", "NetworkPolicy", "ConfigMap", "Secret"}
    assert {nom.split("/")[0] for nom in references_seulement} == {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster"}

    erreurs = erreurs_de_references(ressources, sujets_de)
    assert not erreurs, "\n".join(erreurs)


CASSES = {
    "an unknown field": ("base/parcours.yaml", "  replicas: 2\n", "  replica: 2\n", "Additional properties"),
    "a field of the wrong type": ("base/relay.yaml", "containerPort: 8003", 'containerPort: "8003"', "is not of type"),
    "a Service selecting no workload": (
        "base/projections.yaml",
        "  selector: {app.kubernetes.io/name: projections}\n",
        "  selector: {app.kubernetes.io/name: projection}\n",
        "Service/projections: selector {'app.kubernetes.io/name': 'projection'} selects no pod",
    ),
    "a Service port no pod has": (
        "base/parcours.yaml",
        "targetPort: http",
        "targetPort: web",
        "Service/parcours: targetPort 'web' is no named port",
    ),
    "a NetworkPolicy selecting no pod": (
        "base/networkpolicies.yaml",
        "  podSelector:\n    matchLabels: {cnpg.io/cluster: parcours-db}",
        "  podSelector:\n    matchLabels: {cnpg.io/cluster: parcours-bd}",
        "NetworkPolicy/parcours-db-clients: podSelector",
    ),
    "a NetworkPolicy peer selecting no pod": (
        "base/networkpolicies.yaml",
        "            matchLabels: {app.kubernetes.io/part-of: parcours-ase}",
        "            matchLabels: {app.kubernetes.io/part-of: parcours}",
        "peer podSelector {'matchLabels': {'app.kubernetes.io/part-of': 'parcours'}} selects no pod",
    ),
    "a Secret nobody creates": (
        "base/projections.yaml",
        "name: parcours-olinpe,",
        "name: parcours-olinpe-prod,",
        "Deployment/projections: Secret 'parcours-olinpe-prod' does not exist",
    ),
    "a ConfigMap without the key a workload reads": (
        "overlays/dev/kustomization.yaml",
        "      - issuer=",
        "      - issuer_url=",
        "has no key 'issuer'",
    ),
    "a missing KafkaTopic": (
        "base/kafka.yaml",
        "  name: ase.identites.v1\n",
        "  name: ase.identites.v2\n",
        "Deployment/relay: uses topic 'ase.identites.v1', which no KafkaTopic declares",
    ),
    "a bootstrap address naming no Kafka cluster": (
        "base/relay.yaml",
        "ase-kafka-bootstrap:9092",
        "kafka-bootstrap:9092",
        "Deployment/relay: KAFKA_BOOTSTRAP_SERVERS 'kafka-bootstrap:9092' names no Kafka cluster",
    ),
}


@pytest.mark.parametrize("casse", CASSES, ids=list(CASSES))
def test_a_broken_copy_of_the_manifests_fails_the_checks(casse: str, kustomize: Path, tmp_path: Path) -> None:
    fichier, avant, apres, attendu = CASSES[casse]
    copie = tmp_path / "k8s"
    shutil.copytree(K8S, copie)
    chemin = copie / fichier
    texte = chemin.read_text()
    assert texte.count(avant) == 1, f"{fichier} changed: update the broken case {casse!r}"
    chemin.write_text(texte.replace(avant, apres))

    erreurs = _erreurs(copie / "overlays" / "dev", kustomize)
    assert any(attendu in erreur for erreur in erreurs), "\n".join(erreurs) or "no error reported"
