"""The law of child protection as pure functions and constants, shared by every service.

The calendar of ages and deadlines (:mod:`droit.calendrier`), the rule constants
(:mod:`droit.regles`) and the deadline table (:mod:`droit.echeances`), each with
the article of the code de l'action sociale et des familles or of the code civil
it follows. Nothing here does I/O or imports a service.
"""
