/* The accompagnateur's pages: « Imprimer » on the course table; review by activity: the three avis from the keyboard (issue 17).
   O = oui, P = partiellement, N = non, while the focus is in one compétence (WCAG 2.1.4:
   the letters act only there, never while writing); then the next compétence, then the
   « Enregistrer et suivante » button. Entrée there saves and opens the next activity. */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  var form = document.querySelector("form[data-avis]");
  if (!form) { return; }
  var groups = Array.prototype.slice.call(form.querySelectorAll(".avis-group"));
  var next = form.querySelector("button[name=suivante]");
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && el.type !== "radio"));
  }
  function focusGroup(group) {
    var checked = group.querySelector("input:checked");
    (checked || group).focus();
  }
  form.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var group = event.target.closest ? event.target.closest(".avis-group") : null;
    if (!group) { return; }
    if (event.key === "Enter") {
      event.preventDefault();
      if (next) { next.click(); }
      return;
    }
    var key = (event.key || "").toLowerCase();
    var radio = group.querySelector("input[data-key='" + key + "']");
    if (!radio) { return; }
    event.preventDefault();
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    var index = groups.indexOf(group);
    if (index + 1 < groups.length) { focusGroup(groups[index + 1]); }
    else if (next) { next.focus(); }
  });
  if (groups.length && !document.querySelector("#erreurs")) { focusGroup(groups[0]); }
})();
