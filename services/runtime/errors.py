"""The domain's errors: one root, one family per way a command can be refused."""

from __future__ import annotations


class DomaineError(Exception):
    """Root of every error the domain raises on purpose."""


class RegleMetierError(DomaineError):
    """A command breaks a rule of child-protection law or of the stream.

    ``regle`` is a stable machine word naming the rule; the message explains it
    to a caseworker.
    """

    def __init__(self, regle: str, message: str) -> None:
        super().__init__(message)
        self.regle = regle
        self.message = message


class IntrouvableError(DomaineError):
    """The parcours, lieu, mesure or IP named does not exist (or is out of reach)."""

    def __init__(self, quoi: str, identifiant: object) -> None:
        super().__init__(f"{quoi} {identifiant} introuvable")
        self.quoi = quoi
        self.identifiant = str(identifiant)


class ConflitDeVersionError(DomaineError):
    """The stream moved on since the version the caller saw."""

    def __init__(self, attendue: int, actuelle: int | None) -> None:
        super().__init__(
            f"version attendue {attendue}, version actuelle {actuelle}"
            if actuelle is not None
            else f"version attendue {attendue}: un autre enregistrement a eu lieu entre-temps"
        )
        self.attendue = attendue
        self.actuelle = actuelle


class HorsPerimetreError(DomaineError):
    """The caller may not act in that département."""

    def __init__(self, departement: str) -> None:
        super().__init__(f"le département {departement} n'est pas dans votre périmètre")
        self.departement = departement


class CleIdempotenceReutiliseeError(DomaineError):
    """An ``Idempotency-Key`` came back with a different request."""

    def __init__(self) -> None:
        super().__init__("cette clé d'idempotence a déjà servi pour une autre requête")


class IndisponibleError(Exception):
    """The database did not answer within the bound (saturated, locked, restarting): retry later.

    Not a refusal of the command: the same request may succeed in
    ``reessayer_dans_s`` seconds (sent with its ``Idempotency-Key``, a retry is
    safe even if a lost connection hid the outcome).
    """

    def __init__(self, raison: str, reessayer_dans_s: int = 1) -> None:
        super().__init__(raison)
        self.reessayer_dans_s = max(1, reessayer_dans_s)


class SaisieInvalideError(DomaineError):
    """A value the command carries is malformed for the field it is meant for (a 422, not a refusal by a rule).

    ``champ`` names the request field (``nouvelle_valeur``); ``message`` says what was expected.
    """

    def __init__(self, champ: str, message: str) -> None:
        super().__init__(message)
        self.champ = champ
        self.message = message
