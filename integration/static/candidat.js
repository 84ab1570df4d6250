/* Repères — the candidat's pages: nothing typed or photographed is lost (issue 15).
   Every page works without this file; with it:
   - a form marked data-draft keeps what is typed on this device (localStorage, keyed by
     person and form) and on the server (a moment after each change), and offers
     « Je reprends ce que j'avais écrit » after an ended session, a closed tab, the back button;
   - photos are made smaller before they leave the phone (long side 1600 px, JPEG), each
     checked on its own; a form with photos is sent by the script, retried when the network
     fails, and an ended session is said on the form itself, the words kept;
   - « Je le dis » records a short voice note (MediaRecorder). */
(function () {
  "use strict";

  var MAX_SIDE = 1600;  // the pages show 1600 px at most, the dossier 1400 px
  var QUALITY = 0.85;
  var LIGHTER = 0.6;
  var BUDGET = 200 * 1024;  // mobile data (« Fast 4G » sends 1.35 Mbit/s): about 1.2 s
  var MAX_BYTES = 25 * 1024 * 1024;
  var FIELDS = ["title", "source", "where", "tools", "how", "frequency"];

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function csrfOf(form) {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function valuesOf(form) {
    var data = {};
    FIELDS.forEach(function (name) {
      var els = form.querySelectorAll("[name='" + name + "']");
      if (!els.length) { return; }
      if (els[0].type === "radio") {
        var on = form.querySelector("[name='" + name + "']:checked");
        data[name] = on ? on.value : "";
      } else if (els[0].type !== "hidden") {
        data[name] = els[0].value;
      }
    });
    return data;
  }

  function typed(data) {
    return ["title", "where", "tools", "how"].some(function (n) {
      return data[n] && data[n].trim();
    });
  }

  function fill(form, data) {
    Object.keys(data).forEach(function (name) {
      if (FIELDS.indexOf(name) < 0) { return; }
      var els = form.querySelectorAll("[name='" + name + "']");
      if (!els.length) { return; }
      if (els[0].type === "radio") {
        var found = false;
        els.forEach(function (el) { el.checked = el.value === data[name]; found = found || el.checked; });
        if (!found && data[name] === "") { els[els.length - 1].checked = true; }
      } else if (els[0].type !== "hidden") {
        els[0].value = data[name];
      }
    });
  }

  function localKey(person, form) { return "reperes-draft:" + person + ":" + form; }

  function readLocal(key) {
    var s = storage();
    if (!s) { return null; }
    try { return JSON.parse(s.getItem(key) || "null"); } catch (e) { return null; }
  }

  // --- photos chosen in a form: kept on this device (IndexedDB) until the form is saved,
  // so that an ended session, the back button or a closed tab loses no photo either -----
  function photoStore(mode, work) {
    return new Promise(function (resolve) {
      var db;
      try { db = window.indexedDB && window.indexedDB.open("reperes-photos", 1); } catch (e) { db = null; }
      if (!db) { resolve(null); return; }
      db.onupgradeneeded = function () { db.result.createObjectStore("photos"); };
      db.onerror = function () { resolve(null); };
      db.onsuccess = function () {
        try {
          var tx = db.result.transaction("photos", mode);
          var req = work(tx.objectStore("photos"));
          tx.oncomplete = function () { db.result.close(); resolve(req ? req.result : null); };
          tx.onerror = function () { db.result.close(); resolve(null); };
        } catch (e) { resolve(null); }
      };
    });
  }
  function photosKey(form) {
    var draft = form && form.getAttribute("data-draft");
    return draft ? localKey(form.getAttribute("data-draft-person"), draft) + ":photos" : null;
  }
  function keepPhotos(form, input) {
    var key = photosKey(form);
    if (!key) { return; }
    var files = Array.prototype.slice.call(input.files || []).map(function (f) {
      return { name: f.name, type: f.type, blob: f };
    });
    photoStore("readwrite", function (store) {
      return files.length ? store.put({ input: input.id, files: files }, key) : store.delete(key);
    });
  }
  function putBackPhotos(form) {
    var key = photosKey(form);
    if (!key || typeof DataTransfer !== "function") { return; }
    photoStore("readonly", function (store) { return store.get(key); }).then(function (kept) {
      var input = kept && document.getElementById(kept.input);
      if (!input || !kept.files.length || (input.files && input.files.length)) { return; }
      var dt = new DataTransfer();
      kept.files.forEach(function (f) { dt.items.add(new File([f.blob], f.name, { type: f.type })); });
      input.files = dt.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));  // previews, checks
    });
  }
  function forgetPhotos(person, draft) {
    var key = localKey(person, draft) + ":photos";
    photoStore("readwrite", function (store) { return store.delete(key); });
  }

  // --- a form saved: its drafts go -----------------------------------------------------
  document.querySelectorAll("[data-draft-clear]").forEach(function (el) {
    var s = storage();
    if (s) { s.removeItem(localKey(el.getAttribute("data-draft-person"), el.getAttribute("data-draft-clear"))); }
    forgetPhotos(el.getAttribute("data-draft-person"), el.getAttribute("data-draft-clear"));
  });

  // --- the first screen: a draft on this device -----------------------------------------
  document.querySelectorAll("[data-draft-local]").forEach(function (el) {
    if (document.querySelector("[data-draft-server]")) { return; }
    var kept = readLocal(localKey(el.getAttribute("data-draft-local"), "task-new"));
    if (kept && kept.data && typed(kept.data)) { el.hidden = false; }
  });

  // --- drafts of a form -------------------------------------------------------------------
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var key = localKey(form.getAttribute("data-draft-person"), form.getAttribute("data-draft"));
    var url = form.getAttribute("data-draft-url");
    var note = document.querySelector("[data-draft-note]");
    var timer = null;
    var lastSent = JSON.stringify(valuesOf(form));

    function keepLocal() {
      if (!form.isConnected) { return null; }
      var data = valuesOf(form);
      var s = storage();
      if (s) {
        try {
          if (typed(data)) { s.setItem(key, JSON.stringify({ data: data, at: Date.now() })); }
        } catch (e) { /* full or refused: the server copy is still made */ }
      }
      return data;
    }

    function sendServer(keepalive) {
      if (!form.isConnected) { return; }
      var data = valuesOf(form);
      var body = JSON.stringify(data);
      if (body === lastSent || !typed(data)) { return; }
      lastSent = body;
      try {
        fetch(url, {
          method: "POST", body: body, credentials: "same-origin", keepalive: !!keepalive,
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfOf(form) }
        }).then(function (r) {
          if (r.ok && note) { note.hidden = false; }
        }).catch(function () { lastSent = ""; });
      } catch (e) { lastSent = ""; }
    }

    function changed() {
      keepLocal();
      clearTimeout(timer);
      timer = setTimeout(function () { sendServer(false); }, 800);
    }
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    // Leaving (the top « Retour », the browser's back button, a closed tab): kept first.
    window.addEventListener("pagehide", function () { keepLocal(); sendServer(true); });
    document.querySelectorAll("[data-leave]").forEach(function (a) {
      a.addEventListener("click", function () { keepLocal(); sendServer(true); });
    });

    // A draft on this device: restore it when asked (?reprendre=1) or offer to.
    var kept = readLocal(key);
    var asked = /[?&]reprendre=1/.test(window.location.search);
    var now = valuesOf(form);
    if (kept && kept.data && typed(kept.data) && JSON.stringify(kept.data) !== JSON.stringify(now)) {
      if (asked) {
        fill(form, kept.data);
        putBackPhotos(form);
      } else if (!document.querySelector("[data-draft-offer]") && !document.getElementById("erreurs")) {
        offer(form, kept.data);
      }
    }

    function offer(form, data) {
      var box = document.createElement("div");
      box.className = "flash info";
      box.setAttribute("data-draft-offer", "");
      var p = document.createElement("p");
      p.textContent = "Vous aviez commencé à écrire. Vos mots sont gardés sur cet appareil.";
      var yes = document.createElement("button");
      yes.type = "button";
      yes.textContent = "Je reprends ce que j’avais écrit";
      var no = document.createElement("button");
      no.type = "button";
      no.className = "second";
      no.textContent = "Je recommence à zéro";
      yes.addEventListener("click", function () {
        fill(form, data);
        putBackPhotos(form);
        box.remove();
        var title = form.querySelector("#f-title");
        if (title) { title.focus(); }
      });
      no.addEventListener("click", function () {
        var s = storage();
        if (s) { s.removeItem(key); }
        forgetPhotos(form.getAttribute("data-draft-person"), form.getAttribute("data-draft"));
        box.remove();
      });
      var inner = document.createElement("div");
      inner.appendChild(p);
      var bar = document.createElement("div");
      bar.className = "actions";
      bar.appendChild(yes);
      bar.appendChild(no);
      inner.appendChild(bar);
      box.appendChild(inner);
      form.parentNode.insertBefore(box, form);
    }
  });

  // --- photos made smaller before they leave ----------------------------------------------
  function say(list, from, index, text, ok) {
    var item = list.querySelector("[data-from='" + from + "'][data-index='" + index + "'] .state");
    if (item) {
      item.textContent = text;
      item.parentNode.className = ok ? "ok" : "refused";
    }
  }

  function shrink(file) {
    if (!/^image\//.test(file.type) || typeof createImageBitmap !== "function") {
      return Promise.resolve(file);
    }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var w = bitmap.width, h = bitmap.height;
      var scale = Math.min(1, MAX_SIDE / Math.max(w, h));
      if (scale === 1 && file.size < 2 * 1024 * 1024 && file.type === "image/jpeg") {
        bitmap.close();
        return file;
      }
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(w * scale));
      canvas.height = Math.max(1, Math.round(h * scale));
      var ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      function encode(quality) {
        return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
      }
      // Mobile data sends slowly: a photo full of detail is encoded once more, lighter.
      return encode(QUALITY).then(function (blob) {
        return blob && blob.size > BUDGET ? encode(LIGHTER).then(function (b) { return b || blob; }) : blob;
      }).then(function (blob) {
        if (!blob) { return file; }
        var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
        return new File([blob], name, { type: "image/jpeg", lastModified: Date.now() });
      });
    }).catch(function () { return file; }); // not decodable here: the server decides
  }

  function megabytes(n) {
    return (n / (1024 * 1024)).toFixed(1).replace(".", ",") + " Mo";
  }

  var pending = [];
  document.querySelectorAll("input[type=file][data-resize]").forEach(function (input) {
    input.addEventListener("change", function () {
      var list = document.getElementById(input.getAttribute("data-preview"));
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length) { return; }
      var label = files.length > 1;
      if (list) {
        // reperes.js draws the previews; each gets a line saying what becomes of it.
        list.querySelectorAll("[data-from='" + input.id + "']").forEach(function (li, i) {
          li.setAttribute("data-index", String(i));
          var state = document.createElement("span");
          state.className = "state";
          state.textContent = (label ? "Photo " + (i + 1) + " : " : "") + "on la prépare…";
          li.appendChild(state);
        });
      }
      var job = Promise.all(files.map(function (file, i) {
        var name = label ? "Photo " + (i + 1) + " : " : "";
        var tooBig = (label ? name + "trop grosse" : "Cette photo est trop grosse") +
          " (25 Mo au plus). Elle n’est pas envoyée. Vos mots sont gardés.";
        if (!/^image\//.test(file.type) && file.size > MAX_BYTES) {
          if (list) { say(list, input.id, i, tooBig, false); }
          return null;
        }
        return shrink(file).then(function (small) {
          if (small.size > MAX_BYTES) {
            if (list) { say(list, input.id, i, tooBig, false); }
            return null;
          }
          if (list) { say(list, input.id, i, name + "prête (" + megabytes(small.size) + ")", true); }
          return small;
        });
      })).then(function (made) {
        var kept = made.filter(Boolean);
        if (typeof DataTransfer === "function") {
          var dt = new DataTransfer();
          kept.forEach(function (f) { dt.items.add(f); });
          input.files = dt.files;
        }
        keepPhotos(input.form, input);
      });
      pending.push(job);
    });
  });

  // --- sending a form with files: retried, an ended session said on the form ---------------
  function message(form, text) {
    var box = form.querySelector(".send-state");
    if (!box) {
      box = document.createElement("p");
      box.className = "send-state field-error";
      box.setAttribute("role", "alert");
      var bar = form.querySelector("[data-submit]") || form.lastElementChild;
      bar.parentNode.insertBefore(box, bar);
    }
    box.textContent = text;
  }

  function send(form, attempt) {
    var body = new FormData(form);
    return fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) {
          form.removeAttribute("data-sending");
          if (form.reperesIdle) { form.reperesIdle(); }
          message(form, "Vous n’êtes plus connecté. Vos mots sont gardés sur cet appareil. " +
            "Rouvrez Repères depuis votre cours Moodle, puis touchez « Je reprends ce que j’avais écrit ».");
          return;
        }
        return r.text().then(function (html) {
          // The page the server answered (the next screen, or the form with what to fix),
          // at its own address: its one-time messages are not asked for twice.
          if (r.redirected) { window.history.replaceState(null, "", r.url); }
          document.open(); document.write(html); document.close();
          window.scrollTo(0, 0);
        });
      }, function () {
        if (attempt < 3) {
          message(form, "La connexion est coupée. Repères réessaie d’envoyer (essai " + (attempt + 1) + " sur 3)…");
          return new Promise(function (resolve) { setTimeout(resolve, 1500 * attempt); })
            .then(function () { return send(form, attempt + 1); });
        }
        form.removeAttribute("data-sending");
        if (form.reperesIdle) { form.reperesIdle(); }
        message(form, "L’envoi n’a pas marché : pas de connexion. Vos mots sont gardés. " +
          "Touchez « Enregistrer » quand le réseau revient.");
      });
  }

  document.querySelectorAll("form[enctype='multipart/form-data']").forEach(function (form) {
    if (typeof fetch !== "function" || typeof FormData !== "function") { return; }
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) { return; }
      event.preventDefault();
      form.setAttribute("data-sending", "");
      var started = Date.now();
      Promise.all(pending).then(function () {
        window.reperesPrepared = Date.now() - started;
        return send(form, 1);
      });
    });
  });

  // --- « Je le dis »: a short voice note -----------------------------------------------------
  document.querySelectorAll("[data-voice]").forEach(function (box) {
    if (typeof MediaRecorder !== "function" || !navigator.mediaDevices ||
        typeof DataTransfer !== "function") { return; }
    box.hidden = false;
    var start = box.querySelector("[data-voice-start]");
    var stop = box.querySelector("[data-voice-stop]");
    var status = box.querySelector("[data-voice-status]");
    var play = box.querySelector("[data-voice-play]");
    var input = box.querySelector("[data-voice-input]");
    var sendButton = box.querySelector("[data-voice-send]");
    var max = parseInt(box.getAttribute("data-voice-max") || "180", 10);
    var recorder = null, chunks = [], clock = null, seconds = 0;

    function type() {
      var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
      for (var i = 0; i < types.length; i++) {
        if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
      }
      return "";
    }

    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        chunks = [];
        var t = type();
        recorder = t ? new MediaRecorder(stream, { mimeType: t }) : new MediaRecorder(stream);
        recorder.ondataavailable = function (e) { if (e.data && e.data.size) { chunks.push(e.data); } };
        recorder.onstop = function () {
          stream.getTracks().forEach(function (tr) { tr.stop(); });
          clearInterval(clock);
          var blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
          var ext = /mp4/.test(blob.type) ? "m4a" : /ogg/.test(blob.type) ? "ogg" : "webm";
          var dt = new DataTransfer();
          dt.items.add(new File([blob], "voix." + ext, { type: blob.type }));
          input.files = dt.files;
          play.src = URL.createObjectURL(blob);
          play.hidden = false;
          stop.hidden = true;
          start.hidden = false;
          start.lastChild.textContent = " Je recommence";
          status.textContent = "Votre note de voix est prête (" + seconds + " secondes). " +
            (sendButton ? "Touchez « Garder ma note de voix »." : "Elle part avec l’activité.");
          if (sendButton) { sendButton.hidden = false; }
          box.setAttribute("data-voice-ready", "");
        };
        recorder.start(1000);
        seconds = 0;
        start.hidden = true;
        stop.hidden = false;
        stop.focus();
        status.textContent = "Je vous écoute… Touchez « J’ai fini de parler » à la fin.";
        clock = setInterval(function () {
          seconds += 1;
          if (seconds >= max) {
            status.textContent = "C’est le temps le plus long : la note est finie.";
            recorder.stop();
          }
        }, 1000);
      }, function () {
        status.textContent = "Le micro n’est pas permis. Vous pouvez écrire à la place.";
      });
    });
    stop.addEventListener("click", function () {
      if (recorder && recorder.state !== "inactive") { recorder.stop(); }
    });
  });
})();
