"""Where a webhook may be sent: public addresses only, checked once and connected to as checked.

A subscriber chooses the URL; the service sends to it from inside the
département's network. Without a guard, a URL is a way to make the service
reach what only it can reach (server-side request forgery, OWASP SSRF
Prevention Cheat Sheet): the cloud metadata endpoint ``169.254.169.254``, an
admin console on ``10.0.0.5``, PostgreSQL on ``127.0.0.1``. So, at subscription
and at every delivery:

1. the URL is parsed (:func:`cible`): ``http`` or ``https``, a host, no
   credentials, at most :data:`URL_MAX` characters; parsed too by the parser
   the delivery uses (``httpx.URL``), whose ASCII (IDNA) host is the one
   resolved: a host it refuses (``①②⑦.0.0.1``, fullwidth digits) is refused;
2. its host is resolved ONCE (:func:`resoudre`, ``getaddrinfo`` on the running
   loop, or a resolver passed in): a numeric host in any form ``getaddrinfo``
   reads (``2130706433``, ``0177.0.0.1``, ``0x7f.1``) comes out as the address
   it means;
3. EVERY address it resolves to must be public (:func:`est_publique`), else
   :class:`AdresseRefuseeError`;
4. the request is made to the checked address itself (:func:`requete`): the
   URL's host replaced by the IP, the ``Host`` header and, for https, the TLS
   SNI (``sni_hostname``, also the name the certificate is verified against)
   set to the original host. No second resolution, so a DNS answer that changes
   between the check and the connection (DNS rebinding) changes nothing.

Not public (refused): loopback, private (RFC 1918, ``fc00::/7``), link-local
(``169.254.0.0/16`` with the metadata address, ``fe80::/10``), shared/CGNAT
``100.64.0.0/10``, ``0.0.0.0/8``, multicast, reserved (``240.0.0.0/4``,
``fec0::/10``), unspecified, broadcast, benchmarking ``198.18.0.0/15``,
IETF protocol assignments ``192.0.0.0/24``, documentation (``192.0.2.0/24``,
``198.51.100.0/24``, ``203.0.113.0/24``, ``2001:db8::/32``, ``3fff::/20``),
discard ``100::/64``, NAT64 local-use ``64:ff9b:1::/48`` (RFC 8215), and any
IPv6 address whose embedded IPv4 is not public: IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d`` (RFC 4291 §2.5.5), NAT64 ``64:ff9b::/96``
(RFC 6052), 6to4 ``2002::/16`` (RFC 3056), Teredo ``2001::/32`` (RFC 4380,
server and client). Loopback (``127.0.0.0/8``, ``::1``) is allowed only when
the caller says so (``ASE_WEBHOOKS_LOOPBACK``: the embedded default and the
tests); private ranges stay refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeAlias
from urllib.parse import urlsplit

import httpx

IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolveur: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses as text``: :func:`resolveur_systeme`, or one given by a test."""

URL_MAX: Final = 2_048
"""Characters of a webhook URL."""

_NON_PUBLIQUES_V4: Final = tuple(
    ipaddress.IPv4Network(r)
    for r in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    )
)
_NON_PUBLIQUES_V6: Final = tuple(
    ipaddress.IPv6Network(r)
    for r in (
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_LOOPBACK: Final = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))


class AdresseRefuseeError(Exception):
    """A webhook URL that is malformed, or whose host is (or resolves to) a non-public address.

    The message names the reason and the address, never the URL's path or query.
    """


@dataclass(frozen=True)
class Cible:
    """A parsed webhook URL: what is resolved and what is sent."""

    url: str
    schema: str
    hote: str
    """Lower-case, without brackets for an IPv6 literal."""
    port: int


def ipv4_embarquees(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64, 6to4, Teredo (server, client)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def est_loopback(ip: IP) -> bool:
    """``127.0.0.0/8`` or ``::1`` (not their IPv4-mapped forms)."""
    return any(ip in reseau for reseau in _LOOPBACK if ip.version == reseau.version)


def est_publique(ip: IP) -> bool:
    """Whether ``ip`` may receive a webhook (see the module's docstring for what is refused)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embarquees = ipv4_embarquees(ip)
        if embarquees:
            return all(est_publique(v4) for v4 in embarquees)
        if any(ip in reseau for reseau in _NON_PUBLIQUES_V6):
            return False
    elif any(ip in reseau for reseau in _NON_PUBLIQUES_V4):
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def verifier_ip(ip: IP, *, loopback: bool) -> None:
    """Raise :class:`AdresseRefuseeError` unless ``ip`` is public, or loopback and ``loopback`` allowed."""
    if est_publique(ip) or (loopback and est_loopback(ip)):
        return
    raise AdresseRefuseeError(f"adresse non publique refusée: {ip}")


@lru_cache(maxsize=4096)
def cible(url: str, *, http_permis: bool) -> Cible:
    """Parse a webhook URL; :class:`AdresseRefuseeError` when it is not one we send to.

    ``https`` always; ``http`` only when ``http_permis`` (outside production).
    No user name or password in it, a host, a valid port, at most :data:`URL_MAX` characters.
    """
    if len(url) > URL_MAX:
        raise AdresseRefuseeError(f"URL de plus de {URL_MAX} caractères")
    try:
        morceaux = urlsplit(url)
        port = morceaux.port
    except ValueError:
        raise AdresseRefuseeError("URL invalide") from None
    schema = morceaux.scheme.lower()
    if schema not in ("https", "http") or (schema == "http" and not http_permis):
        raise AdresseRefuseeError("schéma https attendu" if http_permis is False else "schéma http ou https attendu")
    if morceaux.username is not None or morceaux.password is not None:
        raise AdresseRefuseeError("pas d'identifiants dans l'URL")
    if not morceaux.hostname or any(c.isspace() for c in url) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise AdresseRefuseeError("URL sans hôte ou avec des caractères de contrôle")
    # The parser the delivery uses (httpx.URL), so what is accepted here is what is sent to. Its host
    # (IDNA-encoded, RFC 5891) is what is resolved: never a Unicode form that getaddrinfo would map
    # on its own (``①②⑦.0.0.1``, fullwidth ``１２７.０.０.１`` -> 127.0.0.1).
    try:
        analysee = httpx.URL(url)
        brut = analysee.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise AdresseRefuseeError("hôte invalide") from None
    hote, defaut = brut.lower(), 443 if schema == "https" else 80
    if not hote or not hote.isascii() or analysee.scheme != schema or (analysee.port or defaut) != (port or defaut):
        raise AdresseRefuseeError("hôte invalide")
    return Cible(url=url, schema=schema, hote=hote, port=port or defaut)


async def resolveur_systeme(hote: str, port: int) -> Sequence[str]:
    """The addresses ``getaddrinfo`` gives for ``hote`` (TCP), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(hote, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resoudre(c: Cible, *, loopback: bool, resolveur: Resolveur | None = None) -> IP:
    """:func:`resoudre_toutes`' first address."""
    return (await resoudre_toutes(c, loopback=loopback, resolveur=resolveur))[0]


async def resoudre_toutes(c: Cible, *, loopback: bool, resolveur: Resolveur | None = None) -> list[IP]:
    """Resolve ``c``'s host once, check every address; all of them, in the resolver's order, to connect to.

    An IP literal in canonical form is checked as it is; any other host (a name,
    or a numeric form such as ``2130706433``) goes through the resolver.
    Raises :class:`AdresseRefuseeError` (an address refused, or no address).
    """
    try:
        adresses: list[IP] = [ipaddress.ip_address(c.hote)]
    except ValueError:
        try:
            brutes = await (resolveur or resolveur_systeme)(c.hote, c.port)
        except (OSError, UnicodeError) as exc:
            raise AdresseRefuseeError(f"hôte introuvable ({type(exc).__name__})") from None
        try:
            # A zone (fe80::1%eth0) is dropped before it is parsed: link-local anyway, refused below.
            adresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in brutes]
        except ValueError:
            raise AdresseRefuseeError("réponse du résolveur invalide") from None
    if not adresses:
        raise AdresseRefuseeError("hôte sans adresse")
    for ip in adresses:
        verifier_ip(ip, loopback=loopback)
    return list(dict.fromkeys(adresses))


@lru_cache(maxsize=4096)
def _url_et_hote(url: str, ip: str) -> tuple[httpx.URL, str]:
    """The URL with the IP as its host, and the original ``Host`` (parsed once per URL and address)."""
    origine = httpx.URL(url)
    return origine.copy_with(host=ip), origine.netloc.decode("ascii")


def requete(client: httpx.AsyncClient, c: Cible, ip: IP, contenu: bytes, entetes: dict[str, str]) -> httpx.Request:
    """A POST of ``contenu`` to ``c`` at the checked address ``ip``.

    The URL's host is the IP; ``Host`` is the original host (with its port when not
    the default); for https the TLS SNI and certificate check use the original host.
    """
    url, hote = _url_et_hote(c.url, str(ip))
    extensions = {"sni_hostname": c.hote} if c.schema == "https" else {}
    return client.build_request("POST", url, content=contenu, headers={**entetes, "Host": hote}, extensions=extensions)
