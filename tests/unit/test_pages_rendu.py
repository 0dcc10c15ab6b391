"""The pages' pure helpers: French dates, the local-path check that prevents open redirects, settings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.pages.dependances import chemin_local
from services.pages.rendu import date_fr, mois_fr
from services.pages.settings import PagesSettings


def test_dates_read_as_a_french_reader_writes_them() -> None:
    assert date_fr(date(2026, 3, 1)) == "1er mars 2026"
    assert date_fr("2026-12-25") == "25 décembre 2026"
    assert date_fr(datetime(2026, 7, 14, 8, 30, tzinfo=UTC)) == "14 juillet 2026 à 10:30"
    assert date_fr(None) == ""
    assert mois_fr("2028-01") == "janvier 2028"


@pytest.mark.parametrize(
    "cible",
    [
        "https://evil.example/pages/",
        "//evil.example/pages/",
        "/\\evil.example",
        "/pages\\..\\x",
        "javascript:alert(1)",
        "/v1/dossiers",
        "",
        None,
        "/pages/" + "x" * 3000,
    ],
)
def test_a_return_address_outside_the_pages_is_replaced_by_the_home_page(cible: str | None) -> None:
    assert chemin_local(cible, "/pages/") == "/pages/"


def test_a_return_address_inside_the_pages_is_kept() -> None:
    assert chemin_local("/pages/dossiers/1?onglet=frise", "/pages/") == "/pages/dossiers/1?onglet=frise"


def test_production_refuses_the_dev_sign_in_and_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="dev sign-in page is refused"):
        PagesSettings(mode="production", database_url="postgresql://x/y", pages_secret="s" * 40)
    with pytest.raises(ValidationError, match="ASE_PAGES_SECRET"):
        PagesSettings(
            mode="production",
            database_url="postgresql://x/y",
            oidc_issuer="https://idp.example",
            pages_oidc_client_id="ase",
            pages_secret="court",
        )
    reglages = PagesSettings(
        mode="production",
        database_url="postgresql://x/y",
        oidc_issuer="https://idp.example",
        pages_oidc_client_id="ase",
        pages_secret="s" * 40,
        pages_oidc_redirect_uri="https://ase.example/pages/connexion/retour",
    )
    assert reglages.cookie_securise
    assert reglages.oidc
