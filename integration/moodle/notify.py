"""Tell the candidat in Moodle: a new avis, the step « prêt pour le jury » (issue 17).

Through the web service `core_message_send_instant_messages`, when the platform has a
Moodle connection whose token allows it; the message comes from the token's user, in
plain French, with a link back to the course. Sent after the change is saved, outside
its transaction: a Moodle that refuses or does not answer is logged for the operator and
never undoes or blocks the work. Never retried (a message must not arrive twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connectors.moodle import MoodleClient, MoodleError
from connectors.outbound import OutboundSession

from ..actor import Actor
from ..db import transaction
from ..models import Course, Parcours, Person, Platform
from ..parcours.access import parcours_for
from ..parcours.errors import ParcoursError
from ..runtime import current_runtime
from .connection import has_connection, moodle_course_id, moodle_token

log = logging.getLogger(__name__)

AVIS = ("Bonjour {name},\n{who} a donné son avis sur ce que vous faites.\n"
        "Regardez dans Repères : {link}")
READY = ("Bonjour {name},\nVotre parcours est prêt pour le jury.\n"
         "{who} vous dira la suite. Regardez dans Repères : {link}")


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    userid: int
    name: str
    who: str
    link: str


def _target(who: Actor, parcours_id: int) -> Target | None:
    with transaction(current_runtime().sessions) as db:
        try:
            parcours: Parcours = parcours_for(db, who, parcours_id)
        except ParcoursError:
            return None
        platform = db.get(Platform, parcours.course.platform_id)
        person = db.get(Person, parcours.person_id)
        sender = db.get(Person, who.person_id)
        course: Course = parcours.course
        if platform is None or person is None or not has_connection(platform):
            return None
        if not person.sub.isdigit():  # Moodle's LTI `sub` is its user id
            log.info("no Moodle user id for person %s: no message", person.id)
            return None
        base = str(platform.moodle_url).rstrip("/")
        course_id = moodle_course_id(course)
        link = f"{base}/course/view.php?id={course_id}" if course_id else base
        return Target(base, moodle_token(platform), int(person.sub),
                      person.given_name or person.display_name,
                      sender.display_name if sender else "Votre accompagnateur", link)


def _send(who: Actor, parcours_id: int, template: str, what: str) -> bool | None:
    """None: nothing to send (no connection, no Moodle id); True: sent; False: refused."""
    target = _target(who, parcours_id)
    if target is None:
        return None
    http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
    client = MoodleClient(target.url, target.token, session=http, retries=0, timeout=(5, 10))
    try:
        client.send_instant_message(target.userid, template.format(
            name=target.name, who=target.who, link=target.link))
    except MoodleError as error:  # the token may not allow messages: the work goes on
        log.warning("Moodle message (%s) for parcours %s not sent: %s %s", what, parcours_id,
                    error.errorcode, error)
        return False
    except OSError as error:
        log.warning("Moodle message (%s) for parcours %s not sent: %s", what, parcours_id,
                    type(error).__name__)
        return False
    finally:
        http.close()
    log.info("Moodle message (%s) sent for parcours %s", what, parcours_id)
    return True


def avis_given(who: Actor, parcours_id: int) -> bool | None:
    return _send(who, parcours_id, AVIS, "avis")


def ready_for_jury(who: Actor, parcours_id: int) -> bool | None:
    return _send(who, parcours_id, READY, "ready")
