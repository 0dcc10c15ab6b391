"""The SSRF guard of the webhooks: which addresses a delivery may reach, and how a host is resolved."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import httpx
import pytest

from services.notifications import adresses
from services.notifications.adresses import AdresseRefuseeError, cible, est_publique, resoudre, verifier_ip

NON_PUBLIQUES = {
    "loopback v4": "127.0.0.1",
    "loopback v4 ailleurs dans 127/8": "127.10.20.30",
    "loopback v6": "::1",
    "privée 10/8": "10.1.2.3",
    "privée 172.16/12": "172.31.255.254",
    "privée 192.168/16": "192.168.1.1",
    "ULA fc00::/7": "fd12:3456::1",
    "lien local v4": "169.254.1.1",
    "métadonnées du nuage": "169.254.169.254",
    "lien local v6": "fe80::1",
    "CGNAT 100.64/10": "100.64.0.1",
    "0.0.0.0/8": "0.1.2.3",
    "non spécifiée v4": "0.0.0.0",
    "non spécifiée v6": "::",
    "multicast v4": "224.0.0.1",
    "multicast v6": "ff02::1",
    "réservée 240/4": "240.0.0.1",
    "diffusion": "255.255.255.255",
    "documentation 192.0.2/24": "192.0.2.10",
    "documentation 198.51.100/24": "198.51.100.10",
    "documentation 203.0.113/24": "203.0.113.10",
    "documentation 2001:db8::/32": "2001:db8::1",
    "bancs d'essai 198.18/15": "198.18.0.1",
    "IPv4 mappée loopback": "::ffff:127.0.0.1",
    "IPv4 mappée métadonnées": "::ffff:169.254.169.254",
    "IPv4 mappée privée": "::ffff:10.0.0.1",
    "IPv4 compatible": "::10.0.0.1",
    "IPv4 compatible loopback": "::127.0.0.1",
    "NAT64 privée": "64:ff9b::a00:1",
    "NAT64 métadonnées": "64:ff9b::a9fe:a9fe",
    "NAT64 usage local": "64:ff9b:1::a00:1",
    "6to4 privée": "2002:a00:1::1",
    "6to4 loopback": "2002:7f00:1::1",
    "Teredo client privé": "2001:0:808:808:0:0:f5ff:fffe",
    "site local déprécié": "fec0::1",
}

PUBLIQUES = {
    "v4": "93.184.216.34",
    "v4 résolveur public": "1.1.1.1",
    "v6": "2606:4700:4700::1111",
    "IPv4 mappée publique": "::ffff:8.8.8.8",
    "NAT64 publique": "64:ff9b::808:808",
    "6to4 publique": "2002:808:808::1",
}


@pytest.mark.parametrize("adresse", NON_PUBLIQUES.values(), ids=NON_PUBLIQUES.keys())
def test_each_non_public_address_family_is_refused(adresse: str) -> None:
    ip = ipaddress.ip_address(adresse)
    assert not est_publique(ip)
    with pytest.raises(AdresseRefuseeError):
        verifier_ip(ip, loopback=False)


@pytest.mark.parametrize("adresse", PUBLIQUES.values(), ids=PUBLIQUES.keys())
def test_public_addresses_are_accepted(adresse: str) -> None:
    assert est_publique(ipaddress.ip_address(adresse))
    verifier_ip(ipaddress.ip_address(adresse), loopback=False)


def test_the_loopback_setting_allows_loopback_only_not_private_nor_mapped_loopback() -> None:
    verifier_ip(ipaddress.ip_address("127.0.0.1"), loopback=True)
    verifier_ip(ipaddress.ip_address("::1"), loopback=True)
    for adresse in ("10.0.0.1", "192.168.0.1", "169.254.169.254", "::ffff:127.0.0.1", "fd00::1"):
        with pytest.raises(AdresseRefuseeError):
            verifier_ip(ipaddress.ip_address(adresse), loopback=True)


@pytest.mark.parametrize("hote", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "017700000001"])
async def test_numeric_hosts_in_every_form_resolve_to_loopback_and_are_refused(hote: str) -> None:
    # Refused as the loopback they mean, or before (httpx.URL, the delivery's parser, refuses 0177.0.0.1).
    with pytest.raises(AdresseRefuseeError, match=r"127\.0\.0\.1|hôte invalide"):
        await resoudre(cible(f"https://{hote}/crochet", http_permis=False), loopback=False)


@pytest.mark.parametrize("url", ["https://[::1]/x", "https://[::ffff:7f00:1]/x", "https://[fe80::1]:8443/x"])
async def test_ipv6_literals_are_checked_without_a_resolver(url: str) -> None:
    async def resolveur_interdit(hote: str, port: int) -> Sequence[str]:
        raise AssertionError("un littéral IP n'est pas résolu")

    with pytest.raises(AdresseRefuseeError):
        await resoudre(cible(url, http_permis=False), loopback=False, resolveur=resolveur_interdit)


async def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        assert (hote, port) == ("recepteur.example", 443)
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(AdresseRefuseeError, match=r"10\.0\.0\.7"):
        await resoudre(cible("https://recepteur.example/x", http_permis=False), loopback=False, resolveur=resolveur)


async def test_a_name_resolving_only_to_public_addresses_gives_the_first_one_to_connect_to() -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        return ["93.184.216.34", "2606:4700:4700::1111"]

    ip = await resoudre(cible("https://recepteur.example/x", http_permis=False), loopback=False, resolveur=resolveur)
    assert ip == ipaddress.ip_address("93.184.216.34")


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(AdresseRefuseeError, match="introuvable"):
        await resoudre(cible("https://inconnu.invalid/x", http_permis=False), loopback=False, resolveur=resolveur)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://recepteur.example/x",
        "http://recepteur.example/x",
        "https://utilisateur:secret@recepteur.example/x",
        "https:///sans-hote",
        "https://recepteur.example:99999/x",
        "https://recepteur.example/a b",
        "https://recepteur.example/" + "a" * adresses.URL_MAX,
        "javascript:alert(1)",
    ],
)
def test_malformed_or_non_https_urls_are_refused_in_production(url: str) -> None:
    with pytest.raises(AdresseRefuseeError):
        cible(url, http_permis=False)


def test_http_is_allowed_outside_production() -> None:
    assert cible("http://127.0.0.1:8080/x", http_permis=True).port == 8080


def test_the_request_goes_to_the_checked_address_with_the_original_host_and_sni() -> None:
    c = cible("https://recepteur.example:8443/crochet?cle=1", http_permis=False)
    client = httpx.AsyncClient()
    requete = adresses.requete(client, c, ipaddress.ip_address("93.184.216.34"), b"{}", {"webhook-id": "msg_1"})
    assert requete.url.host == "93.184.216.34"
    assert requete.url.port == 8443
    assert requete.url.raw_path == b"/crochet?cle=1"
    assert requete.headers["host"] == "recepteur.example:8443"
    assert requete.extensions["sni_hostname"] == "recepteur.example"
    v6 = adresses.requete(client, c, ipaddress.ip_address("2606:4700:4700::1111"), b"{}", {})
    assert v6.url.host == "2606:4700:4700::1111"


@pytest.mark.parametrize(
    "url",
    [
        "http://①②⑦.0.0.1/",
        "http://１２７.０.０.１:8751/",
        "https://８.８.８.８/",
        "https://exa\u00admple.com/",
        "https://[::1/x",
    ],
    ids=[
        "chiffres cerclés",
        "chiffres pleine chasse",
        "pleine chasse en https",
        "trait d'union conditionnel",
        "crochet",
    ],
)
def test_a_host_the_delivery_s_parser_refuses_is_refused_at_parsing(url: str) -> None:
    """urlsplit takes them and getaddrinfo maps ①②⑦.0.0.1 to 127.0.0.1, but httpx.URL (the delivery) refuses them."""
    with pytest.raises(AdresseRefuseeError):
        cible(url, http_permis=True)


def test_an_internationalised_name_is_resolved_in_its_ascii_form() -> None:
    assert cible("https://bücher.de/x", http_permis=False).hote == "xn--bcher-kva.de"
