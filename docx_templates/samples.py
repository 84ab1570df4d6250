"""A sample dossier: a worker of La Fabrique de l'Emploi (recyclerie, entretien, maraîchage).

Used by the tests, the benchmark, `check_template`'s trial render, and anyone
writing a template who wants to see it filled.

The people are invented. The official wordings come from
``/work/shared/data/referentiels`` (TP agent magasinier 2014 and TP agent de
propreté et d'hygiène 2008, both historical versions; TP ouvrier paysagiste,
RNCP37875, whose compétence codes are not published there and are made up here).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
from typing import Any

from PIL import Image, ImageDraw

from docx_templates.context import (
    MODALITES,
    SOURCE_LIBELLES,
    VERDICT_LIBELLES,
    Bloc,
    Competence,
    DossierContext,
    OtherProof,
    Photo,
    Referentiel,
    RemainingItem,
    Review,
    Task,
    TrainingModule,
    date_fr,
)

ACCOMPAGNATRICE = "Nadia Lefebvre"


@functools.lru_cache(maxsize=8)
def sample_photo(scene: str, size: tuple[int, int] = (800, 600)) -> bytes:
    """A small, deterministic JPEG standing for a phone photo of `scene`."""
    palettes = {
        "dons": ((176, 196, 222), (120, 120, 120), (160, 110, 60)),
        "reserve": ((230, 230, 220), (90, 90, 90), (60, 120, 170)),
        "locaux": ((240, 240, 235), (200, 190, 170), (70, 140, 200)),
        "poireaux": ((150, 200, 240), (110, 80, 50), (60, 150, 60)),
        "paillage": ((170, 210, 240), (120, 90, 60), (210, 180, 90)),
        "poubelles": ((225, 225, 215), (80, 110, 80), (40, 90, 40)),
        "draps": ((235, 235, 240), (190, 190, 200), (250, 250, 250)),
    }
    sky, ground, things = palettes.get(scene, palettes["dons"])
    w, h = size
    im = Image.new("RGB", size, sky)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, h * 55 // 100, w, h), fill=ground)
    for i in range(6):
        x = w * (i + 1) // 8
        draw.rectangle((x, h * 45 // 100, x + w // 14, h * 70 // 100), fill=things)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return out.getvalue()


def _review(verdict: str, commentaire: str = "", date: str = "") -> Review:
    return Review(
        verdict=verdict,
        verdict_libelle=VERDICT_LIBELLES[verdict],
        commentaire=commentaire,
        auteur=ACCOMPAGNATRICE if (verdict or commentaire) else "",
        date=date,
    )


def _task(
    titre: str,
    description: str,
    *,
    lieu: str,
    comment: str,
    avec_quoi: str,
    frequence: str,
    date_debut: str,
    source: str = "workplace",
    photos: tuple[tuple[str, str], ...] = (),
    commentaire: str = "",
    voice_notes: tuple[str, ...] = (),
) -> Task:
    return Task(
        titre=titre,
        description=description,
        lieu=lieu,
        comment=comment,
        avec_quoi=avec_quoi,
        frequence=frequence,
        date_debut=date_debut,
        date_fin="",
        source=source,
        source_libelle=SOURCE_LIBELLES[source],
        photos=[Photo(data=sample_photo(scene), legende=legende) for scene, legende in photos],
        autres_preuves=[OtherProof(sorte="Note vocale", nom=nom) for nom in voice_notes],
        commentaire=commentaire,
    )


def _said(task: Task, commentaire: str) -> Task:
    """The task as shown under one compétence, with what the candidat says of it there."""
    said = task.copy()
    said["commentaire"] = commentaire
    return said


def _competence(
    code: str,
    intitule: str,
    falc: str,
    taches: list[Task],
    revue: Review,
    modules: list[TrainingModule] | None = None,
) -> Competence:
    modules = modules or []
    return Competence(
        code=code,
        intitule=intitule,
        falc=falc,
        nb_taches=len(taches),
        nb_preuves=sum(len(t["photos"]) for t in taches) + len(modules),
        taches=taches,
        modules=modules,
        revue=revue,
    )


def sample_context() -> DossierContext:
    """A complete dossier for « Sandrine Delattre », three référentiels, photos included."""
    dons = _task(
        "Je reçois les dons à la recyclerie",
        "Les gens apportent des objets le mardi et le samedi.\n"
        "Je regarde si l'objet est propre et s'il marche.\n"
        "Si c'est cassé, je le mets de côté pour la réparation ou pour la déchetterie.",
        lieu="Recyclerie de la Fabrique, quartier des Oliveaux à Loos",
        comment="Je vérifie chaque objet devant la personne et je note le don sur le cahier.",
        avec_quoi="Le cahier des dons, des caisses, un diable pour les meubles",
        frequence="Deux fois par semaine",
        date_debut="mars 2023",
        photos=(("dons", "Les caisses de dons du mardi, avant le tri"),),
        voice_notes=("Comment j'explique le tri aux bénévoles",),
    )
    reserve = _task(
        "Je range la réserve",
        "Je range par famille : vaisselle, livres, jouets, petit électroménager.\n"
        "J'écris une étiquette pour chaque étagère.",
        lieu="La réserve, derrière le magasin",
        comment="Les objets lourds en bas, les fragiles à hauteur des yeux.",
        avec_quoi="Étagères, étiquettes, marqueur",
        frequence="Tous les jours, une heure",
        date_debut="avril 2023",
        photos=(("reserve", "La réserve rangée par famille, avec les étiquettes"),),
    )
    locaux = _task(
        "Je nettoie les locaux de la Fabrique le matin",
        "J'arrive à 7 h 30, avant les collègues.\n"
        "Je commence par vider les poubelles, puis je dépoussière, puis je lave le sol.\n"
        "Je mets le panneau « sol glissant » quand c'est mouillé.",
        lieu="Bureaux et salle de pause, rue principale",
        comment="Du plus propre au plus sale, et du haut vers le bas.",
        avec_quoi="Chariot de ménage, lavette, seau à deux bacs, produit neutre",
        frequence="Tous les matins",
        date_debut="septembre 2022",
        photos=(("locaux", "Le couloir après mon passage"),),
    )
    sanitaires = _task(
        "Je nettoie les toilettes",
        "Je mets des gants.\nJ'utilise une lavette rouge seulement pour les toilettes.",
        lieu="Toilettes du rez-de-chaussée",
        comment="Je détartre une fois par semaine et je remplis le papier et le savon.",
        avec_quoi="Gants, lavettes de couleur, détartrant",
        frequence="Tous les jours",
        date_debut="septembre 2022",
    )
    poireaux = _task(
        "Je plante les poireaux au jardin",
        "Je prépare la planche, je fais un trou avec le plantoir, je mets le plant "
        "et j'arrose.\nJe laisse 15 cm entre deux poireaux.",
        lieu="Jardin maraîcher des Oliveaux",
        comment="En rangs droits, avec un cordeau.",
        avec_quoi="Plantoir, cordeau, arrosoir",
        frequence="Au printemps, plusieurs jours",
        date_debut="avril 2024",
        photos=(("poireaux", "Mes rangs de poireaux, deux semaines après la plantation"),),
    )
    plan = _task(
        "J'ai fait le plan du potager en formation",
        "Avec le groupe, on a dessiné le jardin et choisi quoi planter à côté de quoi.",
        lieu="Salle de formation",
        comment="Sur une grande feuille, avec le calendrier des semis.",
        avec_quoi="Papier, crayons, calendrier des semis",
        frequence="Une fois",
        date_debut="janvier 2024",
        source="coursework",
    )
    paillage = _task(
        "Je désherbe et je paille",
        "J'enlève les mauvaises herbes à la main ou à la binette.\n"
        "Ensuite je mets de la paille pour garder l'eau et empêcher l'herbe de repousser.",
        lieu="Jardin maraîcher des Oliveaux",
        comment="Sans produit chimique.",
        avec_quoi="Binette, paille, brouette",
        frequence="Toutes les semaines en été",
        date_debut="mai 2024",
        photos=(("paillage", "Une planche paillée"),),
    )

    # Activities tied to no compétence yet: in the dossier all the same (« Ce que je fais aussi »).
    autres = [
        _task(
            "Je sors les poubelles",
            "Le lundi et le jeudi soir, je sors les bacs.\nJe trie le carton à part.",
            lieu="La cour de la Fabrique",
            comment="Je vérifie que le couvercle ferme.",
            avec_quoi="Les bacs à roulettes",
            frequence="Deux fois par semaine",
            date_debut="septembre 2022",
            photos=(("poubelles", "Les bacs sortis, le carton à part"),),
        ),
        _task(
            "Je plie les draps de la laverie",
            "Je plie les draps à deux, bien au carré, et je les range par taille.",
            lieu="La laverie solidaire",
            comment="",
            avec_quoi="",
            frequence="Le vendredi",
            date_debut="janvier 2024",
            photos=(("draps", ""),),
        ),
        _task(
            "Je lave les vitres du magasin",
            "",
            lieu="La vitrine de la recyclerie",
            comment="Avec la raclette, de haut en bas.",
            avec_quoi="Raclette, mouilleur, seau",
            frequence="Une fois par mois",
            date_debut="mai 2023",
            voice_notes=("Je raconte comment je fais les vitres",),
        ),
    ]
    formation = [
        TrainingModule(nom="Protéger les cultures sans pesticides", date="20 janvier 2025"),
        TrainingModule(nom="Les bases de l'inventaire", date="12 février 2025"),
        TrainingModule(nom="Gestes et postures", date="3 octobre 2024"),
    ]
    referentiels = [
        Referentiel(
            id="TP-AM-2014-historique",
            version="2014-02-23",
            intitule="Titre professionnel agent(e) magasinier(ère)",
            rncp="",
            certificateur="Ministère chargé de l'emploi",
            niveau="Niveau 3",
            statut="historique",
        ),
        Referentiel(
            id="TP-APH-2008-historique",
            version="2008-08-13",
            intitule="Titre professionnel agent(e) de propreté et d'hygiène",
            rncp="",
            certificateur="Ministère chargé de l'emploi",
            niveau="Niveau 3",
            statut="historique",
        ),
        Referentiel(
            id="TP-OP",
            version="2023",
            intitule="Titre professionnel Ouvrier paysagiste",
            rncp="RNCP37875",
            certificateur="Ministère du Travail, du Plein emploi et de l'Insertion",
            niveau="Niveau 3",
            statut="en vigueur",
        ),
    ]
    blocs = [
        Bloc(
            referentiel_id="TP-AM-2014-historique",
            code="CCP1",
            intitule=(
                "Effectuer la réception de marchandises, la mise en stock et le suivi des articles"
            ),
            falc="Recevoir et ranger les marchandises",
            competences=[
                _competence(
                    "1.1",
                    "Réceptionner et contrôler les marchandises.",
                    "Je reçois les objets et je vérifie leur état",
                    [_said(dons, "Je refuse les objets sales ou cassés, poliment.")],
                    _review("oui", "Sandrine contrôle chaque don et sait dire non.", "3 mars 2025"),
                ),
                _competence(
                    "1.3",
                    "Ranger les articles dans le stock.",
                    "Je range les objets à la bonne place",
                    [reserve, dons],
                    _review(
                        "partiellement",
                        "Le rangement est clair. Il manque la gestion des emplacements.",
                        "3 mars 2025",
                    ),
                ),
                _competence(
                    "1.4",
                    "Préparer et réaliser les inventaires des produits en stock.",
                    "Je compte ce qu'il y a en stock",
                    [],
                    _review(""),
                    [TrainingModule(nom="Les bases de l'inventaire", date="12 février 2025")],
                ),
            ],
            revue=_review("", "Bloc bien engagé ; l'inventaire reste à montrer.", "3 mars 2025"),
        ),
        Bloc(
            referentiel_id="TP-APH-2008-historique",
            code="CCP1",
            intitule=(
                "Réaliser une prestation de service d'entretien manuel adaptée aux "
                "locaux, aux surfaces et à leur utilisation"
            ),
            falc="Nettoyer à la main",
            competences=[
                _competence(
                    "C1",
                    "Réaliser par des méthodes manuelles l'entretien courant de locaux "
                    "à usage professionnel ou privatif.",
                    "Je nettoie les bureaux et les salles",
                    [locaux],
                    _review("oui", "Méthode sûre, ordre des tâches respecté.", "5 mars 2025"),
                ),
                _competence(
                    "C2",
                    "Réaliser par des méthodes manuelles l'entretien courant des sanitaires.",
                    "Je nettoie les toilettes et les lavabos",
                    [sanitaires],
                    _review(
                        "oui", "Le code couleur des lavettes est bien appliqué.", "5 mars 2025"
                    ),
                ),
            ],
            revue=_review("oui", "Tout le bloc est montré.", "5 mars 2025"),
        ),
        Bloc(
            referentiel_id="TP-OP",
            code="RNCP37875BC02",
            intitule="Végétaliser un espace paysager",
            falc="Planter et faire pousser",
            competences=[
                _competence(
                    "BC02-1",
                    "Planter et entretenir un mobilier végétal dans un espace paysager",
                    "Je plante et j'entretiens les plantes",
                    [poireaux, plan],
                    _review("oui", "Plantation propre et régulière.", "7 mars 2025"),
                ),
                _competence(
                    "BC02-2",
                    "Protéger les végétaux des parasites, maladies et adventices",
                    "Je protège les plantes des maladies et des mauvaises herbes",
                    [paillage],
                    _review(
                        "partiellement",
                        "Le désherbage est montré ; il faut parler des maladies et des parasites.",
                        "7 mars 2025",
                    ),
                    [
                        TrainingModule(
                            nom="Protéger les cultures sans pesticides", date="20 janvier 2025"
                        )
                    ],
                ),
            ],
            revue=_review(""),
        ),
    ]
    return DossierContext(
        candidat={
            "nom": "Delattre",
            "prenom": "Sandrine",
            "nom_complet": "Sandrine Delattre",
            "structure": "La Fabrique de l'Emploi (Loos, quartier des Oliveaux)",
        },
        accompagnateurs=[{"nom_complet": ACCOMPAGNATRICE, "fonction": "accompagnatrice RAE"}],
        referentiels=referentiels,
        modalite=MODALITES["concret"],
        blocs=blocs,
        autres_activites=autres,
        formation=formation,
        # What remains goes to the accompagnateur's view; in the dossier only as an annex
        # the accompagnateur adds (`sample_remaining`).
        reste_a_montrer=[],
        projet=(
            "Je veux continuer à la recyclerie et passer le titre d'agent magasinier.\n"
            "Plus tard, j'aimerais m'occuper du magasin d'une ressourcerie."
        ),
        generated_at=date_fr(dt.datetime(2025, 3, 14, 10, 30)),
        dossier_version=3,
    )


def sample_remaining() -> list[RemainingItem]:
    """The annex « ce qui reste à montrer » of the sample, when the accompagnateur adds it."""
    return [
        RemainingItem(
            code="1.4",
            intitule="Préparer et réaliser les inventaires des produits en stock.",
            falc="Je compte ce qu'il y a en stock",
            note="Pas encore d'activité : prendre en photo la feuille de comptage de la réserve.",
        ),
        RemainingItem(
            code="BC02-2",
            intitule="Protéger les végétaux des parasites, maladies et adventices",
            falc="Je protège les plantes des maladies et des mauvaises herbes",
            note="Raconter ce que je fais quand une plante est malade.",
        ),
    ]


#: Every kind of trouble a free-text field can bring: XML specials and Jinja-looking
#: text, characters XML forbids, right-to-left script with emoji, 10 000 characters.
HOSTILE_TEXTS = (
    'A & B <x> "guillemets" ]]> &amp; {{ candidat.nom }} {% if %} </w:t>',
    "ctrl\x0b\x00\x01\x07\x08\x1b\x1f\x0c\r\n\ud800\ufffe\uffffFIN",
    "مرحبا، أنا أعمل في إعادة التدوير 👩‍🌾🥕♻️ نعم",
    "x" * 10_000,
    "",
)
CORRUPT_PHOTO = b"\xff\xd8\xff\xe0 not a jpeg"


def hostile_context() -> dict[str, Any]:
    """The sample dossier with every text replaced by a hostile one and every photo corrupt."""
    texts = itertools.cycle(HOSTILE_TEXTS)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return next(texts)
        if isinstance(value, dict):
            if "data" in value:
                return {"data": CORRUPT_PHOTO, "legende": next(texts)}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result: dict[str, Any] = walk(sample_context())
    return result
