/* Repères — light enhancements only: every page works without this file.
   - a photo chosen is shown before it is sent;
   - the "add a task" form shows one step at a time (Suivant / Retour);
   - the error summary takes the focus; a form being sent says so. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Photo preview before sending (blob: URLs stay in this page).
  document.querySelectorAll("input[type=file][data-preview]").forEach(function (input) {
    input.addEventListener("change", function () {
      var list = document.getElementById(input.getAttribute("data-preview"));
      if (!list) { return; }
      list.querySelectorAll("[data-from='" + input.id + "']").forEach(function (el) { el.remove(); });
      Array.prototype.forEach.call(input.files || [], function (file) {
        var item = document.createElement("li");
        item.setAttribute("data-from", input.id);
        if (/^image\//.test(file.type)) {
          var img = document.createElement("img");
          img.alt = "Photo choisie";
          img.src = URL.createObjectURL(file);
          img.onload = function () { URL.revokeObjectURL(img.src); };
          item.appendChild(img);
        } else {
          item.textContent = "Fichier choisi : " + file.name;
        }
        list.appendChild(item);
      });
    });
  });

  // One step at a time in forms marked data-steps.
  document.querySelectorAll("form[data-steps]").forEach(function (form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll("fieldset.step"));
    var submit = form.querySelector("[data-submit]");
    if (steps.length < 2 || !submit) { return; }
    var current = Math.max(0, Math.min(steps.length - 1,
      parseInt(form.getAttribute("data-start") || "1", 10) - 1 || 0));
    var invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) {
      steps.forEach(function (s, i) { if (s.contains(invalid)) { current = i; } });
    }

    // Enter (or any early submit) moves to the next step; only the last step saves.
    form.addEventListener("submit", function (event) {
      if (current < steps.length - 1) {
        event.preventDefault();
        event.stopImmediatePropagation();
        var next = steps[current].querySelector("[data-next]");
        if (next) { next.click(); }
      }
    });
    form.reperesStep = function () { return current; };
    form.reperesLast = function () { return current === steps.length - 1; };

    function show(index, focus) {
      current = index;
      steps.forEach(function (s, i) { s.hidden = i !== index; });
      submit.hidden = index !== steps.length - 1;
      if (focus) {
        var legend = steps[index].querySelector("legend");
        var first = steps[index].querySelector("input:not([type=hidden]), textarea, select");
        (first || legend).focus();
      }
    }

    function button(label, icon, cls, onClick) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = cls;
      var sprite = document.querySelector("use");
      var href = sprite ? sprite.getAttribute("href").split("#")[0] : "";
      b.innerHTML = (icon === "retour" ? svg(href, icon) + " " : "") + label +
        (icon === "suivant" ? " " + svg(href, icon) : "");
      b.addEventListener("click", onClick);
      return b;
    }

    function svg(href, name) {
      return '<svg class="icon" aria-hidden="true" focusable="false"><use href="' + href + "#" + name + '"></use></svg>';
    }

    steps.forEach(function (step, index) {
      var bar = document.createElement("div");
      bar.className = "actions";
      if (index > 0) {
        bar.appendChild(button("Retour", "retour", "second", function () { show(index - 1, true); }));
      }
      if (index < steps.length - 1) {
        var next = bar.appendChild(button("Suivant", "suivant", "", function () {
          var title = step.querySelector("#f-title");
          if (title && !title.value.trim()) {
            var note = step.querySelector(".js-note");
            if (!note) {
              note = document.createElement("p");
              note.className = "field-error js-note";
              note.id = "f-title-js";
              note.textContent = "Écrivez ce que vous faites.";
              title.parentNode.insertBefore(note, title);
              title.setAttribute("aria-describedby",
                ((title.getAttribute("aria-describedby") || "") + " f-title-js").trim());
            }
            title.setAttribute("aria-invalid", "true");
            title.focus();
            return;
          }
          show(index + 1, true);
        }));
        next.setAttribute("data-next", "");
      }
      step.appendChild(bar);
      var legend = step.querySelector("legend");
      if (legend) { legend.setAttribute("tabindex", "-1"); }
    });
    show(current, false);

    // A link of the error summary opens the step of its field.
    document.querySelectorAll("#erreurs a[href^='#']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(link.getAttribute("href").slice(1));
        var index = steps.findIndex(function (s) { return target && s.contains(target); });
        if (index >= 0) {
          event.preventDefault();
          show(index, false);
          target.focus();
        }
      });
    });
  });

  // « Ouvrir dans une nouvelle fenêtre » only makes sense inside Moodle's frame.
  var framed = false;
  try { framed = window.self !== window.top; } catch (e) { framed = true; }
  document.querySelectorAll("[data-framed-only]").forEach(function (el) { el.hidden = !framed; });

  // « Quitter » on a shared computer: what was being written on this device goes too.
  document.querySelectorAll("form.quit").forEach(function (form) {
    form.addEventListener("submit", function () {
      try {
        Object.keys(window.localStorage).forEach(function (k) {
          if (k.indexOf("reperes-draft:") === 0) { window.localStorage.removeItem(k); }
        });
      } catch (e) { /* storage refused: nothing kept either */ }
    });
  });

  // The error summary first, so that a screen reader reads it.
  var errors = document.getElementById("erreurs");
  if (errors) { errors.focus(); }

  // A form being sent (photos can take a while on a slow network) says so, once.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    var b = form.querySelector("button[type=submit]");
    if (!b) { return; }
    var words = b.lastChild.textContent;
    form.addEventListener("submit", function (event) {
      if (!b.disabled) {
        setTimeout(function () {
          if (event.defaultPrevented && !form.hasAttribute("data-sending")) { return; }
          b.disabled = true; b.lastChild.textContent = " Envoi en cours…";
        }, 0);
      }
    });
    form.reperesIdle = function () { b.disabled = false; b.lastChild.textContent = words; };
    // Coming back with the browser's arrow: the button works again.
    window.addEventListener("pageshow", function () { b.disabled = false; b.lastChild.textContent = words; });
  });
})();
