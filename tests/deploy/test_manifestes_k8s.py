"""Every ``deploy/k8s`` overlay renders with kustomize and passes the checks of ``manifestes.py``, offline.

kustomize is the Makefile's version, built into ``.tools/`` from the Go module
proxy by ``make kustomize`` (which this module runs if it is missing, so a fresh
clone needs only Go). The Kubernetes schemas come with ``kubernetes-validate``.
Each check is shown to fail on a deliberately broken copy of the manifests.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts.enveloppe import TOPIC_ALERTES, TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections.readmodels import catalogue_des_projections
from services.projections.service import sujet_dlq
from services.runtime.kafka import PRINCIPAUX, SUJETS, SUPER_UTILISATEUR
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
    project's topics; the projections read theirs and write their dead letters; the notifications
    read the parcours and identities and write the alerts."""
    if commande[:2] == ["ase", "relay"]:
        return {sujet.nom for sujet in SUJETS}
    if commande[:3] == ["ase", "serve", "notifications"]:
        return {TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_ALERTES}
    if commande[:3] == ["ase", "serve", "projections"]:
        projections = catalogue_des_projections()
        return {s for p in projections for s in p.sujets} | {sujet_dlq(p) for p in projections}
    return set()


PRINCIPAL_DE = {"relay": "relais", "projections": "projections", "notifications": "notifications"}
"""The KafkaUser each Deployment runs as (``ase up`` gives the same principals)."""
PORTS_DE_SORTIE = {
    53: "DNS",
    5432: "PostgreSQL",
    9093: "Kafka (TLS, SCRAM)",
    443: "OIDC issuer, webhooks (HTTPS)",
    587: "SMTP relay (STARTTLS)",
    465: "SMTP relay (TLS)",
}
"""The only ports the services' pods may reach, whatever the destination."""
PORTS_DES_API = {"parcours": 8000, "projections": 8001, "notifications": 8002}
"""The APIs' pod ports, which the pages alone may reach, and only on those pods (:func:`erreurs_des_pages`)."""
VERS_UN_HOTE = (443, 587, 465, "tous")
"""Ports a rule must give a destination (`to:`) for: never any host."""
PLAGES_NON_PUBLIQUES = tuple(
    ipaddress.ip_network(plage)
    for plage in (
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
    )
)
"""Private, loopback, link-local (cloud metadata), shared ranges and the IPv6 forms that reach them (IPv4-mapped,
NAT64, 6to4): an egress block holding one must except it (the cluster's pods and the node are there)."""


def _acls_du_code(principal: str) -> set[tuple[str, str, str, str]]:
    motifs = {"literal": "literal", "prefixed": "prefix"}
    return {(a.ressource, a.nom, motifs[a.motif], a.operation) for a in PRINCIPAUX[principal]}


def _acls_strimzi(utilisateur: dict[str, object]) -> set[tuple[str, str, str, str]]:
    spec = utilisateur.get("spec") or {}
    assert isinstance(spec, dict)
    acls = (spec.get("authorization") or {}).get("acls") or []
    return {
        (
            acl["resource"]["type"],
            acl["resource"].get("name", ""),
            acl["resource"].get("patternType", "literal"),
            operation.lower().replace("describeconfigs", "describe_configs"),
        )
        for acl in acls
        for operation in acl["operations"]
    }


def erreurs_kafka_ferme(ressources: list[dict[str, Any]]) -> list[str]:
    """A closed Kafka (issue 9): authenticated TLS listeners and ACLs, one KafkaUser per principal of the
    code with its ACLs, each service as its own user, and the services' egress denied but for
    :data:`PORTS_DE_SORTIE`."""
    return [*_erreurs_du_cluster(ressources), *_erreurs_des_utilisateurs(ressources), *_erreurs_de_sortie(ressources)]


def _erreurs_du_cluster(ressources: list[dict[str, Any]]) -> list[str]:
    erreurs = []
    for kafka in (r for r in ressources if r["kind"] == "Kafka"):
        nom, spec = kafka["metadata"]["name"], kafka["spec"]["kafka"]
        for ecoute in spec.get("listeners") or []:
            if not ecoute.get("tls") or (ecoute.get("authentication") or {}).get("type") not in (
                "scram-sha-512",
                "tls",
            ):
                erreurs.append(f"Kafka/{nom}: listener {ecoute['name']} is not TLS with authentication")
        autorisation = spec.get("authorization") or {}
        if autorisation.get("type") != "simple":
            erreurs.append(f"Kafka/{nom}: no ACL authorization (authorization.type simple)")
        if str((spec.get("config") or {}).get("allow.everyone.if.no.acl.found", "")).lower() != "false":
            erreurs.append(f"Kafka/{nom}: allow.everyone.if.no.acl.found is not false")
        if autorisation.get("superUsers") != [SUPER_UTILISATEUR]:
            erreurs.append(f"Kafka/{nom}: super users other than {SUPER_UTILISATEUR}")
    return erreurs


def _erreurs_des_utilisateurs(ressources: list[dict[str, Any]]) -> list[str]:
    erreurs = []
    utilisateurs = {r["metadata"]["name"]: r for r in ressources if r["kind"] == "KafkaUser"}
    for principal in PRINCIPAUX:
        if principal not in utilisateurs:
            erreurs.append(f"KafkaUser/{principal}: missing (a principal of services/runtime/kafka.py)")
        elif _acls_strimzi(utilisateurs[principal]) != _acls_du_code(principal):
            ecart = _acls_strimzi(utilisateurs[principal]) ^ _acls_du_code(principal)
            erreurs.append(f"KafkaUser/{principal}: ACLs differ from the code's: {sorted(ecart)}")
    for charge in (r for r in ressources if r["kind"] == "Deployment"):
        nom = charge["metadata"]["name"]
        for conteneur in charge["spec"]["template"]["spec"]["containers"]:
            env = {v["name"]: v for v in conteneur.get("env") or []}
            if "KAFKA_BOOTSTRAP_SERVERS" not in env:
                continue
            attendu = PRINCIPAL_DE.get(nom)
            utilisateur = (env.get("KAFKA_SASL_USERNAME") or {}).get("value")
            secret = ((env.get("KAFKA_SASL_PASSWORD") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            if (env.get("KAFKA_SECURITY_PROTOCOL") or {}).get("value") != "SASL_SSL":
                erreurs.append(f"Deployment/{nom}: KAFKA_SECURITY_PROTOCOL is not SASL_SSL")
            if utilisateur != attendu or secret.get("name") != attendu or secret.get("key") != "password":
                erreurs.append(f"Deployment/{nom}: does not authenticate as KafkaUser {attendu!r} from its Secret")
    return erreurs


def _erreurs_de_sortie(ressources: list[dict[str, Any]]) -> list[str]:
    erreurs = []
    politiques = [
        r for r in ressources if r["kind"] == "NetworkPolicy" and "Egress" in r["spec"].get("policyTypes", [])
    ]
    services = {"matchLabels": {"app.kubernetes.io/part-of": "parcours-ase"}}
    if not any(p["spec"].get("egress") == [] and p["spec"]["podSelector"] == services for p in politiques):
        erreurs.append("no NetworkPolicy denies the services' egress by default")
    for politique in politiques:
        nom = politique["metadata"]["name"]
        for regle in politique["spec"].get("egress") or []:
            vers_les_api = _vers_les_api(politique, regle)
            for port in regle.get("ports") or [{"port": "tous"}]:
                if port.get("port") == vers_les_api:
                    continue
                if port.get("port") not in PORTS_DE_SORTIE and nom != "services-egress-keycloak":
                    erreurs.append(f"NetworkPolicy/{nom}: egress to port {port.get('port')}")
                if port.get("port") in VERS_UN_HOTE and not regle.get("to"):
                    erreurs.append(f"NetworkPolicy/{nom}: egress to port {port.get('port')} of any host (no `to:`)")
            for pair in regle.get("to") or []:
                bloc = pair.get("ipBlock") or {}
                cidr = bloc.get("cidr", "")
                if not cidr:
                    continue
                reseau = ipaddress.ip_network(cidr, strict=False)
                if reseau.version == 4 and reseau.subnet_of(PLACEHOLDER):
                    erreurs.append(f"NetworkPolicy/{nom}: placeholder destination {cidr} left (set the real one)")
                exclues = [ipaddress.ip_network(e, strict=False) for e in bloc.get("except") or []]
                for plage in PLAGES_NON_PUBLIQUES:
                    contenue = plage.version == reseau.version and plage.subnet_of(reseau)
                    if contenue and not any(e.version == plage.version and plage.subnet_of(e) for e in exclues):
                        erreurs.append(f"NetworkPolicy/{nom}: egress to {cidr} reaches {plage} (not excepted)")
    return erreurs


def _vers_les_api(politique: dict[str, Any], regle: dict[str, Any]) -> int | None:
    """The API port an egress rule of the pages' pods may name: the port of the one API whose pods
    (and only those, in this namespace) the rule targets; None otherwise."""
    if politique["spec"]["podSelector"] != {"matchLabels": {"app.kubernetes.io/name": "pages"}}:
        return None
    pairs = regle.get("to") or []
    cibles = {
        ((pair.get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/name")
        for pair in pairs
        if set(pair) == {"podSelector"} and set(pair["podSelector"]) == {"matchLabels"}
    }
    if len(pairs) != 1 or len(cibles) != 1:
        return None
    return PORTS_DES_API.get(str(cibles.pop()))


CONTROLEUR_D_ENTREE = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
"""The ingress controller's namespace: the only peer the pages accept connections from."""


def erreurs_des_pages(ressources: list[dict[str, Any]]) -> list[str]:
    """The pages (issue 12): ``ase serve pages`` in production, calling the three APIs at Services that exist,
    allowed out to their pods (and PostgreSQL, DNS, the issuer), in from the ingress controller only,
    published by an Ingress on ``/pages``; no Kafka, no key-encryption key."""
    par_genre: Genres = {}
    for r in ressources:
        par_genre.setdefault(r["kind"], {})[r["metadata"]["name"]] = r
    charge = par_genre.get("Deployment", {}).get("pages")
    if charge is None:
        return ["Deployment/pages: missing"]
    (conteneur,) = charge["spec"]["template"]["spec"]["containers"]
    return [*_erreurs_du_conteneur(conteneur), *_erreurs_des_api(par_genre, conteneur), *_erreurs_d_entree(par_genre)]


Genres = dict[str, dict[str, dict[str, Any]]]
"""Rendered resources by kind, then by name."""


def _erreurs_du_conteneur(conteneur: dict[str, Any]) -> list[str]:
    erreurs = []
    if conteneur["args"][:3] != ["ase", "serve", "pages"]:
        erreurs.append("Deployment/pages: does not run `ase serve pages`")
    env = {v["name"]: v for v in conteneur.get("env") or []}
    if (env.get("ASE_MODE") or {}).get("value") != "production":
        erreurs.append("Deployment/pages: ASE_MODE is not production (the dev sign-in page would be served)")
    if not ((env.get("ASE_PAGES_SECRET") or {}).get("valueFrom") or {}).get("secretKeyRef"):
        erreurs.append("Deployment/pages: ASE_PAGES_SECRET not from a Secret")
    erreurs += [
        f"Deployment/pages: {v} (the pages use no Kafka, no key)" for v in env if v.startswith(("KAFKA_", "ASE_CLE"))
    ]
    return erreurs


def _erreurs_des_api(par_genre: Genres, conteneur: dict[str, Any]) -> list[str]:
    erreurs = []
    reglages: dict[str, str] = {}
    for source in conteneur.get("envFrom") or []:
        nom = (source.get("configMapRef") or {}).get("name")
        reglages.update((par_genre.get("ConfigMap", {}).get(nom) or {}).get("data") or {})
    for api, port in PORTS_DES_API.items():
        variable = f"ASE_PAGES_API_{api.upper()}"
        service = par_genre.get("Service", {}).get(api)
        if reglages.get(variable) != f"http://{api}":
            erreurs.append(f"Deployment/pages: {variable} is {reglages.get(variable)!r}, not the Service http://{api}")
        elif service is None or service["spec"].get("selector") != {"app.kubernetes.io/name": api}:
            erreurs.append(f"Deployment/pages: Service {api} missing or not selecting the {api} pods")
        sorties = [
            p for p in par_genre.get("NetworkPolicy", {}).values()
            if "Egress" in p["spec"].get("policyTypes", [])
            and p["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "pages"}}
            for regle in p["spec"].get("egress") or []
            if _vers_les_api(p, regle) == port and {"port": port, "protocol": "TCP"} in (regle.get("ports") or [])
        ]  # fmt: skip
        if not sorties:
            erreurs.append(f"Deployment/pages: no egress policy lets the pages reach the {api} pods on {port}")
    return erreurs


def _erreurs_d_entree(par_genre: Genres) -> list[str]:
    erreurs = []
    entrees = [
        p for p in par_genre.get("NetworkPolicy", {}).values()
        if "Ingress" in p["spec"].get("policyTypes", []) and _choisit_les_pages(p["spec"]["podSelector"])
    ]  # fmt: skip
    if not entrees:
        erreurs.append("Deployment/pages: no ingress policy (reachable from any pod)")
    for politique in entrees:
        for regle in politique["spec"].get("ingress") or []:
            if regle.get("from") != [CONTROLEUR_D_ENTREE]:
                erreurs.append(f"NetworkPolicy/{politique['metadata']['name']}: the pages accept {regle.get('from')}")
    publiees = [
        chemin
        for entree in par_genre.get("Ingress", {}).values()
        for regle in entree["spec"].get("rules") or []
        for chemin in (regle.get("http") or {}).get("paths") or []
        if chemin["backend"].get("service", {}).get("name") == "pages"
    ]
    if not any(c["path"] == "/pages" for c in publiees):
        erreurs.append("Ingress: nothing publishes /pages to Service pages")
    erreurs += [
        f"Ingress/{n}: host {r.get('host')} is a placeholder: the overlay sets it"
        for n, entree in par_genre.get("Ingress", {}).items()
        for r in entree["spec"].get("rules") or []
        if PLACEHOLDER_NOM in str(r.get("host"))
    ]
    return erreurs


def _choisit_les_pages(selecteur: dict[str, Any]) -> bool:
    return (selecteur.get("matchLabels") or {}).get("app.kubernetes.io/name") == "pages" or selecteur == {}


PLACEHOLDER = ipaddress.ip_network("192.0.2.0/24")
"""TEST-NET-1 (RFC 5737): the base's placeholder destinations, which an overlay must replace."""

CLE_MAITRE = ("ASE_CLE_MAITRE", "ASE_CLE_MAITRE_ID")
SECRET_CLE_MAITRE = "ase-cle-maitre"
AVEC_CLE_MAITRE = ("parcours", "relay", "projections", "notifications")
"""Who encrypts or decrypts persons' data: the write side, the relay (publishes decrypted), the projections;
and the notifications, whose production settings check the key at start (their store feed decrypts birth dates)."""


PLACEHOLDER_NOM = ".invalid"
"""The base's placeholder host names (RFC 2606) in settings, which an overlay must replace."""


def erreurs_de_reglages(ressources: list[dict[str, Any]]) -> list[str]:
    """No ConfigMap value left with a placeholder host name (``*.invalid``)."""
    return [
        f"ConfigMap/{r['metadata']['name']}: {cle} is a placeholder ({valeur}): the overlay sets it"
        for r in ressources
        if r["kind"] == "ConfigMap"
        for cle, valeur in (r.get("data") or {}).items()
        if PLACEHOLDER_NOM in str(valeur)
    ]


def erreurs_de_cles(ressources: list[dict[str, Any]]) -> list[str]:
    """The key-encryption key comes from Secret ``ase-cle-maitre`` to the services that need it; the audit
    signing key (an operator's, for ``ase audit checkpoint``) to none."""
    erreurs = []
    charges = {r["metadata"]["name"]: r for r in ressources if r["kind"] == "Deployment"}
    for nom, charge in charges.items():
        for conteneur in charge["spec"]["template"]["spec"]["containers"]:
            env = {v["name"]: v for v in conteneur.get("env") or []}
            if "ASE_CLE_SIGNATURE_AUDIT" in env:
                erreurs.append(f"Deployment/{nom}: ASE_CLE_SIGNATURE_AUDIT (the checkpoint is an operator's job)")
            if nom not in AVEC_CLE_MAITRE:
                continue
            for variable in CLE_MAITRE:
                ref = ((env.get(variable) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                # kustomize's secretGenerator suffixes the name with a hash of the content.
                if not re.fullmatch(rf"{SECRET_CLE_MAITRE}(-[a-z0-9]{{10}})?", str(ref.get("name"))):
                    erreurs.append(f"Deployment/{nom}: {variable} not from Secret {SECRET_CLE_MAITRE}")
    erreurs += [f"Deployment/{n}: missing" for n in AVEC_CLE_MAITRE if n not in charges]
    return erreurs


def _erreurs(overlay: Path, kustomize: Path) -> list[str]:
    ressources = rendre(overlay, kustomize)
    erreurs, _ = erreurs_de_schema(ressources, VERSION_KUBERNETES)
    return (
        erreurs
        + erreurs_de_references(ressources, sujets_de)
        + erreurs_kafka_ferme(ressources)
        + erreurs_de_cles(ressources)
        + erreurs_de_reglages(ressources)
        + erreurs_des_pages(ressources)
    )


def test_deploy_has_overlays_to_check() -> None:
    assert [p.name for p in _overlays(K8S)] == ["dev"]


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_every_overlay_passes_the_kubernetes_schemas_and_its_references(overlay: Path, kustomize: Path) -> None:
    ressources = rendre(overlay, kustomize)
    erreurs, references_seulement = erreurs_de_schema(ressources, VERSION_KUBERNETES)
    assert not erreurs, "\n".join(erreurs)
    valides = {r["kind"] for r in ressources if r["apiVersion"].split("/")[0] not in GROUPES_SANS_SCHEMA}
    assert valides >= {"Deployment", "Service", "NetworkPolicy", "ConfigMap", "Secret"}
    assert {nom.split("/")[0] for nom in references_seulement} == {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
    }

    erreurs = erreurs_de_references(ressources, sujets_de)
    assert not erreurs, "\n".join(erreurs)


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_kafka_is_closed_one_kafka_user_per_principal_and_the_services_egress_denied_by_default(
    overlay: Path, kustomize: Path
) -> None:
    ressources = rendre(overlay, kustomize)
    assert not erreurs_kafka_ferme(ressources), "\n".join(erreurs_kafka_ferme(ressources))
    assert {r["metadata"]["name"] for r in ressources if r["kind"] == "KafkaUser"} == set(PRINCIPAUX)
    egress = {r["metadata"]["name"] for r in ressources if r["kind"] == "NetworkPolicy"}
    assert {"services-egress-refuse-par-defaut", "services-egress-kafka"} <= egress


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_every_kafka_topic_of_the_code_has_the_same_settings_in_k8s(overlay: Path, kustomize: Path) -> None:
    """Each of ``SUJETS`` (what ``ase up`` and the relay create) is a KafkaTopic with exactly its settings:
    the identities topic's compaction (``COMPACTION_IDENTITES``) cannot drift between the two."""
    ressources = rendre(overlay, kustomize)
    k8s = {
        r["spec"].get("topicName", r["metadata"]["name"]): {
            cle: str(valeur) for cle, valeur in (r["spec"].get("config") or {}).items()
        }
        for r in ressources
        if r["kind"] == "KafkaTopic"
    }
    assert {s.nom: k8s.get(s.nom) for s in SUJETS} == {s.nom: dict(s.reglages) for s in SUJETS}


CASSES = {
    "the pages reachable from any pod": (
        "base/pages.yaml",
        "    - from:\n        - namespaceSelector:\n            matchLabels: {kubernetes.io/metadata.name: ingress-nginx}\n"
        "      ports: [{port: 8004, protocol: TCP}]\n",
        "    - ports: [{port: 8004, protocol: TCP}]\n",
        "NetworkPolicy/pages-entree: the pages accept None",
    ),
    "the pages let out to an API on another port": (
        "base/egress.yaml",
        "            matchLabels: {app.kubernetes.io/name: projections}\n      ports: [{port: 8001, protocol: TCP}]",
        "            matchLabels: {app.kubernetes.io/name: projections}\n      ports: [{port: 8000, protocol: TCP}]",
        "NetworkPolicy/pages-egress-services: egress to port 8000",
    ),
    "an API port opened to any destination": (
        "base/egress.yaml",
        "        - podSelector:\n            matchLabels: {app.kubernetes.io/name: notifications}\n      ports: [{port: 8002",
        "        - ipBlock: {cidr: 10.0.0.0/8}\n      ports: [{port: 8002",
        "NetworkPolicy/pages-egress-services: egress to port 8002",
    ),
    "the pages calling an API that is no Service": (
        "base/pages.yaml",
        "  ASE_PAGES_API_PROJECTIONS: http://projections\n",
        "  ASE_PAGES_API_PROJECTIONS: http://lecture\n",
        "Deployment/pages: ASE_PAGES_API_PROJECTIONS is 'http://lecture'",
    ),
    "the pages in dev mode": (
        "base/pages.yaml",
        "            - {name: ASE_MODE, value: production}\n",
        "            - {name: ASE_MODE, value: dev}\n",
        "Deployment/pages: ASE_MODE is not production",
    ),
    "the pages' callback left as a placeholder": (
        "overlays/dev/kustomization.yaml",
        "        ASE_PAGES_OIDC_REDIRECT_URI: https://parcours-ase.dev.test/pages/connexion/retour\n",
        "        ASE_PAGES_API_PARCOURS: http://parcours\n",
        "ConfigMap/pages-reglages: ASE_PAGES_OIDC_REDIRECT_URI is a placeholder",
    ),
    "the pages' host left as a placeholder": (
        "overlays/dev/kustomization.yaml",
        "      - op: replace\n        path: /spec/rules/0/host\n        value: parcours-ase.dev.test\n",
        "",
        "Ingress/pages: host parcours-ase.invalid is a placeholder",
    ),
    "a session secret nobody creates": (
        "overlays/dev/kustomization.yaml",
        "  - name: pages-session\n",
        "  - name: pages-session-dev\n",
        "Deployment/pages: Secret 'pages-session' does not exist",
    ),
    "a Kafka listener without authentication": (
        "base/kafka.yaml",
        "        authentication: {type: scram-sha-512}\n",
        "",
        "listener tls is not TLS with authentication",
    ),
    "a KafkaUser granted more than the code says": (
        "base/kafka-utilisateurs.yaml",
        "      - resource: {type: topic, name: ase.statistiques.v1, patternType: literal}\n        operations: [Read, Describe]",
        "      - resource: {type: topic, name: ase.statistiques.v1, patternType: literal}\n        operations: [Read, Describe, Write]",
        "KafkaUser/observatoire: ACLs differ from the code's",
    ),
    "a service authenticating as another principal": (
        "base/projections.yaml",
        "value: projections}",
        "value: relais}",
        "Deployment/projections: does not authenticate as KafkaUser 'projections'",
    ),
    "an egress to a port nobody needs": (
        "base/egress.yaml",
        "      ports: [{port: 5432, protocol: TCP}]",
        "      ports: [{port: 22, protocol: TCP}]",
        "NetworkPolicy/services-egress-dns-postgres: egress to port 22",
    ),
    "an egress rule on 443 to any host": (
        "overlays/dev/egress-keycloak.yaml",
        "      ports: [{port: 80, protocol: TCP}, {port: 8080, protocol: TCP}]\n",
        "      ports: [{port: 80, protocol: TCP}, {port: 8080, protocol: TCP}]\n    - ports: [{port: 443, protocol: TCP}]\n",
        "NetworkPolicy/services-egress-keycloak: egress to port 443 of any host (no `to:`)",
    ),
    "an SMTP egress to any host": (
        "overlays/dev/kustomization.yaml",
        "      $patch: delete\n      apiVersion: networking.k8s.io/v1\n      kind: NetworkPolicy\n"
        "      metadata: {name: notifications-egress-smtp}\n",
        "      apiVersion: networking.k8s.io/v1\n      kind: NetworkPolicy\n"
        "      metadata: {name: notifications-egress-smtp}\n"
        "      spec:\n        egress:\n          - ports: [{port: 587, protocol: TCP}]\n",
        "NetworkPolicy/notifications-egress-smtp: egress to port 587 of any host (no `to:`)",
    ),
    "the SMTP placeholder left": (
        "overlays/dev/kustomization.yaml",
        "      $patch: delete\n      apiVersion: networking.k8s.io/v1\n      kind: NetworkPolicy\n"
        "      metadata: {name: notifications-egress-smtp}\n",
        "      apiVersion: networking.k8s.io/v1\n      kind: NetworkPolicy\n"
        "      metadata: {name: notifications-egress-smtp, labels: {garde: oui}}\n",
        "NetworkPolicy/notifications-egress-smtp: placeholder destination 192.0.2.25/32 left",
    ),
    "webhooks reaching the cluster's private addresses": (
        "base/egress.yaml",
        "              - 10.0.0.0/8        # private (RFC 1918)\n",
        "",
        "NetworkPolicy/notifications-egress-webhooks: egress to 0.0.0.0/0 reaches 10.0.0.0/8 (not excepted)",
    ),
    "webhooks reaching the cloud metadata": (
        "base/egress.yaml",
        "              - 169.254.0.0/16    # link-local, cloud metadata (169.254.169.254)\n",
        "",
        "NetworkPolicy/notifications-egress-webhooks: egress to 0.0.0.0/0 reaches 169.254.0.0/16",
    ),
    "webhooks reaching IPv4 through its IPv6-mapped form": (
        "base/egress.yaml",
        "              - ::ffff:0:0/96     # IPv4-mapped\n",
        "",
        "NetworkPolicy/notifications-egress-webhooks: egress to ::/0 reaches ::ffff:0:0/96",
    ),
    "a notifications setting left as a placeholder": (
        "overlays/dev/kustomization.yaml",
        "        ASE_LIEN_BASE: http://projections\n",
        "",
        "ConfigMap/notifications-reglages: ASE_LIEN_BASE is a placeholder",
    ),
    "notifications authenticating as the projections": (
        "base/notifications.yaml",
        "value: notifications}",
        "value: projections}",
        "Deployment/notifications: does not authenticate as KafkaUser 'notifications'",
    ),
    "an SMTP Secret nobody creates": (
        "overlays/dev/kustomization.yaml",
        "  - name: notifications-smtp\n",
        "  - name: notifications-smtp-dev\n",
        "Deployment/notifications: Secret 'notifications-smtp' does not exist",
    ),
    "a service without the key-encryption key": (
        "base/relay.yaml",
        "            - name: ASE_CLE_MAITRE\n",
        "            - name: ASE_CLE_MAITRE_ABSENTE\n",
        "Deployment/relay: ASE_CLE_MAITRE not from Secret ase-cle-maitre",
    ),
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
        "ase-kafka-bootstrap:9093",
        "kafka-bootstrap:9093",
        "Deployment/relay: KAFKA_BOOTSTRAP_SERVERS 'kafka-bootstrap:9093' names no Kafka cluster",
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


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_the_services_get_the_key_encryption_key_from_a_secret_and_not_the_audit_signing_key(
    overlay: Path, kustomize: Path
) -> None:
    ressources = rendre(overlay, kustomize)
    assert not erreurs_de_cles(ressources), "\n".join(erreurs_de_cles(ressources))


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_the_pages_reach_the_three_apis_and_are_reached_from_the_ingress_controller_only(
    overlay: Path, kustomize: Path
) -> None:
    ressources = rendre(overlay, kustomize)
    assert not erreurs_des_pages(ressources), "\n".join(erreurs_des_pages(ressources))
    politiques = {r["metadata"]["name"]: r for r in ressources if r["kind"] == "NetworkPolicy"}
    # DNS and PostgreSQL through the services' common policy, the issuer with the other token checkers.
    assert politiques["services-egress-dns-postgres"]["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/part-of": "parcours-ase"}
    }
    pages = next(r for r in ressources if r["kind"] == "Deployment" and r["metadata"]["name"] == "pages")
    assert pages["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "parcours-ase"
    oidc = "services-egress-keycloak" if overlay.name == "dev" else "services-egress-oidc"
    assert "pages" in politiques[oidc]["spec"]["podSelector"]["matchExpressions"][0]["values"]


@pytest.mark.parametrize("overlay", _overlays(K8S), ids=lambda p: p.name)
def test_no_egress_rule_on_443_lets_a_service_reach_any_host(overlay: Path, kustomize: Path) -> None:
    ressources = rendre(overlay, kustomize)
    erreurs = [e for e in erreurs_kafka_ferme(ressources) if "NetworkPolicy" in e]
    assert not erreurs, "\n".join(erreurs)
