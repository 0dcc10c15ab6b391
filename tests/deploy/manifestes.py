"""Offline checks of rendered Kubernetes manifests: the schemas, then what refers to what.

- Kubernetes' own kinds are validated against the API's JSON schemas in strict
  mode (an unknown field is an error), as ``kubernetes-validate`` ships them.
- Strimzi (``kafka.strimzi.io``) and CloudNativePG (``postgresql.cnpg.io``)
  resources have no schema a reachable registry serves: they are checked for
  their references only. Any other kind without a schema is an error.
- References, within one rendered overlay: each Service selects the pods of a
  workload and its named target ports exist there; each NetworkPolicy (and each
  Strimzi listener's ``networkPolicyPeers``) selects existing pods; each Secret,
  ConfigMap and key a workload names exists (or is made by an operator from a
  resource of the overlay); each Kafka bootstrap address, KafkaTopic and node
  pool names an existing Kafka cluster and listener; each topic a workload uses
  exists as a KafkaTopic with no more replicas than brokers.

Pods made by operators are modelled with the labels the operators give them
(CloudNativePG: ``cnpg.io/cluster``; Strimzi: ``strimzi.io/cluster``,
``strimzi.io/kind``, ``strimzi.io/name``, ``strimzi.io/pool-name``), and so are
the Secrets they create (``<cluster>-app`` and friends, ``<cluster>-cluster-ca-cert``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

GROUPES_SANS_SCHEMA = {"kafka.strimzi.io": "Strimzi", "postgresql.cnpg.io": "CloudNativePG"}
"""API groups checked for references only: no registry here ships their CRD schemas."""

CHARGES = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
"""Workloads whose pods come from ``spec.template`` (a CronJob's from its job template)."""

CLES_SECRET_CNPG_APP = frozenset(
    {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass", "user", "fqdn-uri", "fqdn-jdbc-uri"}
)
"""The keys of the ``<cluster>-app`` Secret CloudNativePG writes."""

Ressource = dict[str, Any]
SujetsDe = Callable[[list[str]], set[str]]
"""Given a container's command and arguments, the Kafka topics it uses."""


def rendre(overlay: Path, kustomize: Path) -> list[Ressource]:
    """``kustomize build overlay``, parsed."""
    sortie = subprocess.run(
        [str(kustomize), "build", str(overlay)], capture_output=True, text=True, timeout=120, check=False
    )
    if sortie.returncode != 0:
        raise AssertionError(f"kustomize build {overlay} failed:\n{sortie.stderr}")
    return [document for document in yaml.safe_load_all(sortie.stdout) if document]


def _nom(ressource: Ressource) -> str:
    return f"{ressource.get('kind')}/{ressource.get('metadata', {}).get('name')}"


def _groupe(ressource: Ressource) -> str:
    api = str(ressource.get("apiVersion", ""))
    return api.split("/", maxsplit=1)[0] if "/" in api else ""


# -- schemas ---------------------------------------------------------------------


def erreurs_de_schema(ressources: Iterable[Ressource], version: str) -> tuple[list[str], list[str]]:
    """Validate each Kubernetes resource; return the errors and the resources checked for references only."""
    erreurs, references_seulement = [], []
    for ressource in ressources:
        if _groupe(ressource) in GROUPES_SANS_SCHEMA:
            references_seulement.append(_nom(ressource))
            continue
        try:
            kubernetes_validate.validate(ressource, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            erreurs.append(f"{_nom(ressource)}: {exc.message}")
        except kubernetes_validate.ValidationError as exc:
            chemin = ".".join(str(p) for p in exc.path) or "(racine)"
            erreurs.append(f"{_nom(ressource)}: {chemin}: {exc.message}")
    return erreurs, references_seulement


# -- references ------------------------------------------------------------------


@dataclass
class Pods:
    """The pods one workload (or one operator) makes: their labels, ports and what they name."""

    origine: str
    espace: str
    labels: dict[str, str]
    ports: set[str] = field(default_factory=set)
    """Named container ports."""
    conteneurs: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    image_pull_secrets: list[str] = field(default_factory=list)


def _espace(ressource: Ressource) -> str:
    return str(ressource.get("metadata", {}).get("namespace", ""))


def _selectionne(selecteur: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (``matchLabels``, ``matchExpressions``) against a pod's labels; empty selects all."""
    selecteur = selecteur or {}
    if any(labels.get(cle) != valeur for cle, valeur in (selecteur.get("matchLabels") or {}).items()):
        return False
    for expression in selecteur.get("matchExpressions") or []:
        cle, operateur, valeurs = expression["key"], expression["operator"], expression.get("values") or []
        present = cle in labels
        if operateur == "In" and (not present or labels[cle] not in valeurs):
            return False
        if operateur == "NotIn" and present and labels[cle] in valeurs:
            return False
        if operateur == "Exists" and not present:
            return False
        if operateur == "DoesNotExist" and present:
            return False
    return True


def _pods_de_gabarit(origine: str, espace: str, gabarit: Mapping[str, Any]) -> Pods:
    spec = gabarit.get("spec") or {}
    conteneurs = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return Pods(
        origine=origine,
        espace=espace,
        labels=dict((gabarit.get("metadata") or {}).get("labels") or {}),
        ports={p["name"] for c in conteneurs for p in c.get("ports") or [] if p.get("name")},
        conteneurs=conteneurs,
        volumes=list(spec.get("volumes") or []),
        image_pull_secrets=[s["name"] for s in spec.get("imagePullSecrets") or []],
    )


def _pods(ressources: list[Ressource]) -> list[Pods]:
    """Every pod the overlay makes, its workloads' and its operators'."""
    pods = []
    pools = [r for r in ressources if r.get("kind") == "KafkaNodePool"]
    for ressource in ressources:
        genre, nom, espace = ressource.get("kind"), ressource["metadata"]["name"], _espace(ressource)
        spec = ressource.get("spec") or {}
        if genre in CHARGES and _groupe(ressource) in ("apps", "batch"):
            pods.append(_pods_de_gabarit(_nom(ressource), espace, spec.get("template") or {}))
        elif genre == "CronJob":
            gabarit = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
            pods.append(_pods_de_gabarit(_nom(ressource), espace, gabarit))
        elif genre == "Pod":
            pods.append(_pods_de_gabarit(_nom(ressource), espace, ressource))
        elif genre == "Cluster" and _groupe(ressource) == "postgresql.cnpg.io":
            labels = {"cnpg.io/cluster": nom, "cnpg.io/podRole": "instance"}
            pods.append(Pods(origine=f"{_nom(ressource)} (CloudNativePG)", espace=espace, labels=labels))
        elif genre == "Kafka" and _groupe(ressource) == "kafka.strimzi.io":
            commun = {"strimzi.io/cluster": nom, "strimzi.io/kind": "Kafka"}
            for pool in pools:
                if (pool["metadata"].get("labels") or {}).get("strimzi.io/cluster") == nom:
                    labels = {
                        **commun,
                        "strimzi.io/name": f"{nom}-kafka",
                        "strimzi.io/pool-name": pool["metadata"]["name"],
                    }
                    pods.append(Pods(origine=f"{_nom(pool)} (Strimzi)", espace=espace, labels=labels))
            if spec.get("entityOperator") is not None:
                labels = {**commun, "strimzi.io/name": f"{nom}-entity-operator"}
                pods.append(Pods(origine=f"{_nom(ressource)} entity operator (Strimzi)", espace=espace, labels=labels))
    return pods


def _faits_par_les_operateurs(ressources: list[Ressource]) -> dict[tuple[str, str, str], frozenset[str] | None]:
    """Secrets the operators create from the overlay's resources, with their keys when known."""
    faits: dict[tuple[str, str, str], frozenset[str] | None] = {}
    for ressource in ressources:
        nom, espace, groupe = ressource["metadata"]["name"], _espace(ressource), _groupe(ressource)
        if ressource.get("kind") == "Cluster" and groupe == "postgresql.cnpg.io":
            faits[("Secret", espace, f"{nom}-app")] = CLES_SECRET_CNPG_APP
            for suffixe in ("superuser", "ca", "server", "replication"):
                faits[("Secret", espace, f"{nom}-{suffixe}")] = None
        elif ressource.get("kind") == "Kafka" and groupe == "kafka.strimzi.io":
            for suffixe in ("cluster-ca-cert", "clients-ca-cert", "cluster-ca", "clients-ca"):
                faits[("Secret", espace, f"{nom}-{suffixe}")] = None
        elif ressource.get("kind") == "KafkaUser" and groupe == "kafka.strimzi.io":
            faits[("Secret", espace, nom)] = None
    return faits


def _dans_le_manifeste(ressources: list[Ressource]) -> dict[tuple[str, str, str], frozenset[str] | None]:
    trouves: dict[tuple[str, str, str], frozenset[str] | None] = {}
    for ressource in ressources:
        if ressource.get("kind") in ("Secret", "ConfigMap") and ressource.get("apiVersion") == "v1":
            cles = {
                *(ressource.get("data") or {}),
                *(ressource.get("stringData") or {}),
                *(ressource.get("binaryData") or {}),
            }
            trouves[(ressource["kind"], _espace(ressource), ressource["metadata"]["name"])] = frozenset(cles)
    return trouves


def _references_de(pods: Pods) -> Iterable[tuple[str, str, str | None, bool]]:
    """(kind, name, key, optional) of every Secret and ConfigMap the pods name."""
    for conteneur in pods.conteneurs:
        for variable in conteneur.get("env") or []:
            source = variable.get("valueFrom") or {}
            for champ, genre in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if champ in source:
                    ref = source[champ]
                    yield genre, ref.get("name", ""), ref.get("key"), bool(ref.get("optional"))
        for source in conteneur.get("envFrom") or []:
            yield from _sources(source, (("secretRef", "Secret"), ("configMapRef", "ConfigMap")), "name")
    for volume in pods.volumes:
        yield from _sources(volume, (("secret", "Secret"),), "secretName")
        yield from _sources(volume, (("configMap", "ConfigMap"),), "name")
        for source in (volume.get("projected") or {}).get("sources") or []:
            yield from _sources(source, (("secret", "Secret"), ("configMap", "ConfigMap")), "name")
    for nom in pods.image_pull_secrets:
        yield "Secret", nom, None, False


def _sources(
    bloc: Mapping[str, Any], champs: tuple[tuple[str, str], ...], cle_du_nom: str
) -> Iterable[tuple[str, str, str | None, bool]]:
    for champ, genre in champs:
        if champ in bloc:
            yield genre, bloc[champ].get(cle_du_nom, ""), None, bool(bloc[champ].get("optional"))


def erreurs_de_references(ressources: list[Ressource], sujets_de: SujetsDe) -> list[str]:
    """Every reference of the rendered overlay that points at nothing."""
    pods = _pods(ressources)
    erreurs: list[str] = []
    for ressource in ressources:
        erreurs += _selections(ressource, pods)
    erreurs += _secrets_et_configmaps(ressources, pods)
    erreurs += _sujets(ressources, pods, sujets_de)
    erreurs += _adresses_kafka(ressources, pods)
    return erreurs


def _choisis(pods: list[Pods], selecteur: Mapping[str, Any] | None, espace: str) -> list[Pods]:
    return [p for p in pods if p.espace == espace and _selectionne(selecteur, p.labels)]


def _pairs_orphelins(pairs: Iterable[Mapping[str, Any]], pods: list[Pods], espace: str) -> list[Any]:
    """The peers' pod selectors (in this namespace) that select no pod."""
    return [
        pair["podSelector"]
        for pair in pairs
        if "podSelector" in pair and "namespaceSelector" not in pair and not _choisis(pods, pair["podSelector"], espace)
    ]


def _selections(ressource: Ressource, pods: list[Pods]) -> list[str]:
    """A workload's selector, a Service's, a NetworkPolicy's and a Strimzi listener's peers."""
    genre, espace, spec, nom = ressource.get("kind"), _espace(ressource), ressource.get("spec") or {}, _nom(ressource)
    erreurs = []
    if genre in CHARGES and _groupe(ressource) == "apps":
        gabarit = (spec.get("template") or {}).get("metadata") or {}
        if not _selectionne(spec.get("selector"), gabarit.get("labels") or {}):
            erreurs.append(f"{nom}: its selector does not match its own pod template")
    elif genre == "Service" and ressource.get("apiVersion") == "v1" and spec.get("selector"):
        choisies = _choisis(pods, {"matchLabels": spec["selector"]}, espace)
        if not choisies:
            erreurs.append(f"{nom}: selector {spec['selector']} selects no pod of any workload")
        for port in spec.get("ports") or []:
            cible = port.get("targetPort")
            if isinstance(cible, str) and choisies and not any(cible in p.ports for p in choisies):
                erreurs.append(f"{nom}: targetPort {cible!r} is no named port of the pods it selects")
    elif genre == "NetworkPolicy":
        if not _choisis(pods, spec.get("podSelector"), espace):
            erreurs.append(f"{nom}: podSelector {spec.get('podSelector')} selects no pod")
        for regle in [*(spec.get("ingress") or []), *(spec.get("egress") or [])]:
            pairs = [*(regle.get("from") or []), *(regle.get("to") or [])]
            erreurs += [f"{nom}: peer podSelector {s} selects no pod" for s in _pairs_orphelins(pairs, pods, espace)]
    elif genre == "Kafka" and _groupe(ressource) == "kafka.strimzi.io":
        for ecoute in (spec.get("kafka") or {}).get("listeners") or []:
            orphelins = _pairs_orphelins(ecoute.get("networkPolicyPeers") or [], pods, espace)
            erreurs += [f"{nom}: listener {ecoute.get('name')} peer {s} selects no pod" for s in orphelins]
    return erreurs


def _secrets_et_configmaps(ressources: list[Ressource], pods: list[Pods]) -> list[str]:
    erreurs = []
    existants = {**_faits_par_les_operateurs(ressources), **_dans_le_manifeste(ressources)}
    for groupe in pods:
        for genre, nom, cle, optionnel in _references_de(groupe):
            if optionnel:
                continue
            reference = (genre, groupe.espace, nom)
            if reference not in existants:
                erreurs.append(f"{groupe.origine}: {genre} {nom!r} does not exist")
                continue
            cles = existants[reference]
            if cle is not None and cles is not None and cle not in cles:
                erreurs.append(f"{groupe.origine}: {genre} {nom!r} has no key {cle!r}")
    return erreurs


STRIMZI_RATTACHES = ("KafkaTopic", "KafkaNodePool", "KafkaUser")
"""Strimzi resources that name their Kafka cluster with the ``strimzi.io/cluster`` label."""

_BOOTSTRAP = re.compile(r"^(?P<cluster>[a-z0-9-]+)-kafka-bootstrap(?:\.[a-z0-9.-]+)?:(?P<port>\d+)$")


def _clusters(ressources: list[Ressource]) -> dict[tuple[str, str], Ressource]:
    return {
        (_espace(r), r["metadata"]["name"]): r
        for r in ressources
        if r.get("kind") == "Kafka" and _groupe(r) == "kafka.strimzi.io"
    }


def _rattaches(ressources: list[Ressource]) -> list[tuple[Ressource, str]]:
    """Strimzi resources attached to a cluster, with the cluster's name."""
    return [
        (r, str((r["metadata"].get("labels") or {}).get("strimzi.io/cluster")))
        for r in ressources
        if _groupe(r) == "kafka.strimzi.io" and r.get("kind") in STRIMZI_RATTACHES
    ]


def _sujets(ressources: list[Ressource], pods: list[Pods], sujets_de: SujetsDe) -> list[str]:
    """Each Strimzi resource names a cluster; each topic used is declared, with no more replicas than brokers."""
    erreurs = []
    clusters = _clusters(ressources)
    brokers: dict[tuple[str, str], int] = {}
    sujets: dict[tuple[str, str], tuple[Ressource, str]] = {}
    for ressource, cluster in _rattaches(ressources):
        espace, spec = _espace(ressource), ressource.get("spec") or {}
        if (espace, cluster) not in clusters:
            erreurs.append(f"{_nom(ressource)}: strimzi.io/cluster {cluster!r} names no Kafka cluster")
        elif ressource["kind"] == "KafkaTopic":
            sujets[(espace, spec.get("topicName") or ressource["metadata"]["name"])] = (ressource, cluster)
        elif ressource["kind"] == "KafkaNodePool" and "broker" in (spec.get("roles") or []):
            brokers[(espace, cluster)] = brokers.get((espace, cluster), 0) + int(spec.get("replicas") or 0)
    for (espace, nom), (sujet, cluster) in sujets.items():
        repliques = int((sujet.get("spec") or {}).get("replicas") or 1)
        if repliques > brokers.get((espace, cluster), 0):
            erreurs.append(f"KafkaTopic/{nom}: {repliques} replicas but {brokers.get((espace, cluster), 0)} brokers")
    for groupe in pods:
        for conteneur in groupe.conteneurs:
            commande = [*(conteneur.get("command") or []), *(conteneur.get("args") or [])]
            for sujet in sorted(sujets_de(commande)):
                if (groupe.espace, sujet) not in sujets:
                    erreurs.append(f"{groupe.origine}: uses topic {sujet!r}, which no KafkaTopic declares")
    return erreurs


def _adresses_kafka(ressources: list[Ressource], pods: list[Pods]) -> list[str]:
    """Each ``KAFKA_BOOTSTRAP_SERVERS`` address is a Strimzi bootstrap Service of a cluster's listener."""
    erreurs = []
    clusters = _clusters(ressources)
    for groupe in pods:
        adresses = [
            adresse.strip()
            for conteneur in groupe.conteneurs
            for variable in conteneur.get("env") or []
            if variable.get("name") == "KAFKA_BOOTSTRAP_SERVERS" and "value" in variable
            for adresse in str(variable["value"]).split(",")
        ]
        for adresse in adresses:
            trouve = _BOOTSTRAP.match(adresse)
            cluster = clusters.get((groupe.espace, trouve["cluster"])) if trouve else None
            if trouve is None or cluster is None:
                erreurs.append(f"{groupe.origine}: KAFKA_BOOTSTRAP_SERVERS {adresse!r} names no Kafka cluster")
                continue
            ports = {int(e.get("port", 0)) for e in (cluster.get("spec") or {}).get("kafka", {}).get("listeners") or []}
            if int(trouve["port"]) not in ports:
                erreurs.append(f"{groupe.origine}: no listener of Kafka {trouve['cluster']} on port {trouve['port']}")
    return erreurs
