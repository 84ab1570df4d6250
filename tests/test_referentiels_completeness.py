"""Issue 14: never offer an empty or partial référentiel to a candidat as if it were whole."""

from __future__ import annotations

from typing import Any

from flask import Flask

from integration.parcours.items import items_of
from referentiels import Bloc, Competence, Provenance, Referentiel, load_shipped
from referentiels.completeness import completeness
from tests.support import parcours as support
from tests.support.parcours import Cast, login
from tests.test_pages_support import launched, post, text_of

api_app = support.api_app
cast = support.cast


def _ref(*blocs: Bloc, complete: bool = True) -> Referentiel:
    return Referentiel(
        id="X", intitule="Un métier", certificateur="Un ministère", niveau="Niveau 3",
        provenance=Provenance(version="1", status="en_vigueur", sources=("un texte",),
                              complete=complete),
        blocs=blocs,
    )


def _assert_whole(ref: dict[str, Any]) -> None:
    """What a candidat is offered: blocs with compétences, whole wordings, no bloc as item."""
    assert ref["complete"] is True and ref["missing"] == []
    assert ref["blocs"], ref["id"]
    bloc_codes = {b["code"] for b in ref["blocs"]}
    for bloc in ref["blocs"]:
        assert bloc["competences"], (ref["id"], bloc["code"])
        for competence in bloc["competences"]:
            assert competence["truncated"] is False, (ref["id"], competence["code"])
    assert ref["items"]
    for item in ref["items"]:
        assert item["kind"] == "competence" and item["code"] not in bloc_codes


# -- the library -------------------------------------------------------------------------


def test_a_bloc_without_competences_makes_the_referentiel_a_completer() -> None:
    whole = Bloc("B1", "Nettoyer", (Competence("C1", "Laver les sols"),))
    empty = Bloc("B2", "Servir")
    found = completeness(_ref(whole, empty))
    assert not found.complete and found.label == "à compléter"
    assert found.missing == ("bloc B2 « Servir » : aucune compétence connue",)
    assert found.complete_blocs == ("B1",)
    assert completeness(_ref(whole)).complete


def test_a_truncated_wording_or_a_source_that_saw_only_part_is_a_completer() -> None:
    cut = Bloc("B1", "Nettoyer", (Competence("C1", "Laver les s", truncated=True),))
    assert completeness(_ref(cut)).missing == ("compétence C1 : libellé coupé « Laver les s … »",)
    seen_part = completeness(_ref(Bloc("B1", "N", (Competence("C1", "Laver"),)), complete=False))
    assert not seen_part.complete and seen_part.missing
    assert completeness(_ref()).missing == ("aucun bloc de compétences connu",)


def test_a_bloc_is_never_a_taggable_item_in_place_of_its_competences() -> None:
    ref = _ref(Bloc("B1", "Nettoyer", (Competence("C1", "Laver"),
                                       Competence("C2", "Essuy", truncated=True))),
               Bloc("B2", "Servir"))
    assert [(i.kind, i.code) for i in items_of(ref)] == [("competence", "C1")]


def test_the_shipped_referentiels_issue_14_named_are_now_whole() -> None:
    by_key = {r.key: r for r in load_shipped()}
    psr = by_key[("CAP-PSR", "2019-10-29")]
    assert [len(b.competences) for b in psr.blocs] == [5, 5]
    assert psr.competence("C2").intitule.endswith("sur les produits alimentaires")
    epc = by_key[("CAP-EPC", "2019-10-29")].competence("RNCP34947BC03-C5")
    assert epc.intitule == "recevoir les réclamations courantes" and not epc.truncated
    assert epc.reliability == "deduit"
    assert [len(b.competences) for b in by_key[("TP-OP", "RNCP37875")].blocs] == [6, 5, 4]
    for key in [("TP-APH", "2013-08-13"), ("TP-EC", "2014-12-15"), ("TP-OP", "2013-05-13")]:
        assert completeness(by_key[key]).complete and by_key[key].status == "historique"
    # What the material does not hold stays « à compléter », never invented.
    assert not completeness(by_key[("TP-APH", "2023-06-07")]).complete
    assert not completeness(by_key[("TP-EC", "2022-09-28")]).complete


def test_every_item_of_the_new_material_keeps_its_source_and_reliability() -> None:
    touched = {("CAP-EPC", "2019-10-29"), ("CAP-PSR", "2019-10-29"), ("TP-APH", "2013-08-13"),
               ("TP-EC", "2014-12-15"), ("TP-OP", "2013-05-13"), ("TP-OP", "RNCP37875")}
    for ref in load_shipped():
        if ref.key in touched:
            for bloc in ref.blocs:
                assert bloc.source and bloc.reliability, (ref.key, bloc.code)
                for c in bloc.competences:
                    assert c.source and c.reliability, (ref.key, c.code)
        # A provenance names documents, never how they were looked up.
        text = " ".join(ref.provenance.sources + ref.provenance.notes + (ref.provenance.verified,))
        for c in ref.competences():
            text += f" {c.source or ''} {c.note or ''}"
        assert "find_string" not in text and "index id" not in text, ref.key
        assert "returned by the index" not in text, ref.key


# -- what a candidat is offered ---------------------------------------------------------------


def test_no_referentiel_offered_to_a_candidat_through_the_api_is_partial(
    api_app: Flask, cast: Cast
) -> None:
    client = api_app.test_client()
    login(client, cast.actor("alice"))
    listed = client.get("/api/v1/referentiels").get_json()["referentiels"]
    keys = {(r["id"], r["version"]) for r in listed}
    assert ("TP-APH", "2023-06-07") not in keys and ("TP-EC", "2022-09-28") not in keys
    assert ("TP-AEB", "2016-03-21") not in keys
    assert ("CAP-PSR", "2019-10-29") in keys and ("TP-OP", "RNCP37875") in keys
    for summary in listed:
        ref = client.get(f"/api/v1/referentiels/{summary['id']}/{summary['version']}").get_json()
        _assert_whole(ref)


def test_the_staff_sees_incomplete_referentiels_with_what_is_missing(
    api_app: Flask, cast: Cast
) -> None:
    client = api_app.test_client()
    login(client, cast.actor("carla"))
    listed = {(r["id"], r["version"]): r
              for r in client.get("/api/v1/referentiels").get_json()["referentiels"]}
    aph = listed[("TP-APH", "2023-06-07")]
    assert aph["complete"] is False and "aucun bloc de compétences connu" in aph["missing"]


def test_a_candidat_cannot_choose_an_incomplete_referentiel_through_the_api(
    api_app: Flask, cast: Cast
) -> None:
    client = api_app.test_client()
    token = login(client, cast.actor("alice"))
    pid = client.get("/api/v1/parcours/mine").get_json()["id"]
    refused = client.put(f"/api/v1/parcours/{pid}/referentiels",
                         json={"referentiels": ["TP-APH@2023-06-07"]},
                         headers={"X-CSRF-Token": token})
    assert refused.status_code == 422, refused.get_data(as_text=True)[:300]


def test_the_choice_page_offers_whole_referentiels_only(demo_app: Flask) -> None:
    samira = launched(demo_app, "candidat1")
    page = samira.get("/moi/referentiel/choisir")
    text = text_of(page)
    assert "Ouvrier paysagiste" in text
    assert "Agent de propreté et d'hygiène" not in text  # the 2023 TP: no compétence known
    assert "Employé commercial" not in text  # the 2022 TP: blocs without compétences
    olivier = launched(demo_app, "coordinateur")
    done = post(olivier, "/cours/referentiels",
                {"referentiels": ["TP-APH@2023-06-07", "TP-OP@RNCP37875"]},
                token_from="/cours/referentiels")
    assert done.status_code == 303
    offered = text_of(samira.get("/moi/referentiel/choisir"))
    assert "Ouvrier paysagiste" in offered and "propreté" not in offered
    refused = post(samira, "/moi/referentiel/choisir", {"referentiel": "TP-APH@2023-06-07"},
                   token_from="/moi/referentiel/choisir")
    assert refused.status_code == 422
    assert "pas encore prêt" in text_of(refused)
