"""Moodle: completed modules become tasks with their evidence, tagged to the mapped compétences.

The rooms of this package: ``connection`` (the web-service connection of a platform),
``mapping`` (Moodle modules -> compétences) and ``views`` (its pages and the runs);
the sync itself, one job per module: ``plan`` (what to write for one person, pure),
``load`` (what is stored and what Moodle says), ``people`` (matching users),
``write`` (writing a plan), ``clients`` (requests in flight), ``report`` (a run's
report and exit codes), ``run`` (a whole run under the lease), ``refresh`` (one person
at launch) and ``scheduler`` (runs inside the service).

Moodle completions become tasks with their evidence, tagged to the mapped compétences.

For each course of a platform with a Moodle connection and at least one mapped module
(see ``integration.moodle.mapping``), a run reads the enrolled users (paged), matches them to
people of Repères, asks Moodle for each one's completions (a few requests in flight;
database writes stay in the calling thread) and, for each completed mapped module,
makes a task of source ``moodle`` with its evidence (« Module terminé le … ») and tags.

Decisions (what a reader of this code must know):

- **Who is synced.** Only people Repères already knows (from a launch, or names and
  roles). Repères never creates a person who has not opened it: the parcours is
  voluntary. Their completions arrive at their first launch (``refresh_person_async``).
  A Moodle user is matched by Moodle user id (Moodle's LTI ``sub``) first, then by
  username and/or email as ``Platform.moodle_match`` says (``id``, ``username``,
  ``email``, ``username,email``); an ambiguous match is skipped and reported.
- **Who gets a parcours.** A known person without a parcours in the course gets one
  (status en préparation, with the course's référentiel when it offers exactly one)
  when Moodle enrols them as ``student`` or they launched as candidat, and only when a
  completed mapped module gives it something to hold. Never someone who is
  accompagnateur or coordinateur in the course.
- **Idempotent, check before writing.** A run first reads what is stored and writes
  only what differs: a second run with nothing new writes no row.
- **Nothing lost.** A module marked incomplete again keeps its task, shown with
  ``moodle_completed=False``. What the person wrote or added (title, description,
  dates, evidence, tags) is never changed or removed; a tag the person removed is not
  put back; a task the person removed stays removed. A link added to the mapping later
  adds the missing tags on the next run; a link removed from the mapping removes no tag.
  Only confirmed links count: a Moodle proposal a person refused tags nothing.
- **Versions.** A tag is made against the version of the référentiel the parcours
  chose; when the parcours has not chosen that référentiel, against the mapping's.
- **Failures.** A failing course or person is recorded in the run's errors and the
  others go on (state ``partial``); the next run catches up.
- **One run at a time.** ``run_sync`` holds the database lease ``moodle-sync``
  (``integration.ops.locks``) for the whole run; a second run refuses with ``LockBusy``.
"""
