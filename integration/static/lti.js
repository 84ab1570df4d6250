/* Repères — the scripts of the /lti pages (no inline script: the pages' CSP is script-src 'self').
   Each page says which part it needs in <script type="application/json" id="lti-config">
   {"page": …}: login_storage, launch_storage, open, continue, registered, autopost. */
(function () {
  "use strict";

  // LTI client-side postMessage storage (1EdTech "LTI OIDC Login with LTI Client Side
  // postMessages"): the platform keeps our state and nonce when a cookie cannot.
  // Older platforms answer to org.imsglobal.lti.* subjects: the capabilities answer says which.
  function platformStorage(targetName, origin) {
    var host = window.opener || window.parent;
    var prefix = "lti.";
    var frameName = targetName;
    var pending = {};
    var counter = 0;

    function newId() {
      if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
      counter += 1;
      return "m" + Date.now() + "-" + counter + "-" + Math.random().toString(36).slice(2);
    }

    window.addEventListener("message", function (event) {
      if (event.origin !== origin) { return; }
      var data = event.data;
      if (typeof data === "string") {
        try { data = JSON.parse(data); } catch (e) { return; }
      }
      if (!data || typeof data.subject !== "string" || !pending[data.message_id]) { return; }
      var waiter = pending[data.message_id];
      delete pending[data.message_id];
      if (data.error) { waiter.reject(data.error); } else { waiter.resolve(data); }
    });

    function send(target, targetOrigin, subject, fields, ms) {
      return new Promise(function (resolve, reject) {
        var id = newId();
        pending[id] = { resolve: resolve, reject: reject };
        setTimeout(function () {
          if (pending[id]) { delete pending[id]; reject(new Error("no answer to " + subject)); }
        }, ms);
        var message = { subject: subject, message_id: id };
        for (var k in fields) { message[k] = fields[k]; }
        target.postMessage(message, targetOrigin);
      });
    }

    function frame() {
      return frameName === "_parent" ? host : host.frames[frameName];
    }

    var ready = send(host, "*", "lti.capabilities", {}, 1000).then(function (answer) {
      var supported = answer.supported_messages || [];
      var modern = null, legacy = null;
      supported.forEach(function (m) {
        if (m.subject === "lti.put_data") { modern = m; }
        if (m.subject === "org.imsglobal.lti.put_data") { legacy = m; }
      });
      var chosen = modern || legacy;
      if (!modern && legacy) { prefix = "org.imsglobal.lti."; }
      if (chosen && chosen.frame) { frameName = chosen.frame; }
    }, function () { /* no capabilities message: use the names of the specification */ });

    return {
      put: function (key, value) {
        return ready.then(function () {
          return send(frame(), origin, prefix + "put_data", { key: key, value: value }, 2000);
        });
      },
      get: function (key) {
        return ready.then(function () {
          return send(frame(), origin, prefix + "get_data", { key: key }, 2000);
        });
      }
    };
  }

  function byId(id) { return document.getElementById(id); }

  var pages = {
    // Login: keep state and nonce in the platform's storage, then go to its auth endpoint.
    login_storage: function (config) {
      var storage = platformStorage(config.target, config.origin);
      Promise.all(config.keys.map(function (pair) { return storage.put(pair[0], pair[1]); }))
        .catch(function () { /* the launch will see it and offer a new window */ })
        .then(function () { window.location.replace(config.auth_url); });
    },

    // Launch: read state and nonce back from the platform's storage, then post again.
    launch_storage: function (config) {
      var form = byId("lti-continue");
      var storage = platformStorage(config.target, config.origin);
      Promise.all([storage.get(config.state_key), storage.get(config.nonce_key)])
        .then(function (answers) {
          form.elements.lti_storage_state.value = answers[0].value || "";
          form.elements.lti_storage_nonce.value = answers[1].value || "";
        })
        .catch(function () {
          form.elements.lti_storage_state.remove();
          form.elements.lti_storage_nonce.remove();
          var failed = document.createElement("input");
          failed.type = "hidden"; failed.name = "lti_storage_failed"; failed.value = "1";
          form.appendChild(failed);
        })
        .then(function () { form.submit(); });
    },

    // The page that opens a new window: the ticket and its binding go to that window only,
    // by postMessage, when it asks from our own origin.
    open: function (config) {
      var form = byId("lti-open-form");
      var opened = null;
      window.addEventListener("message", function (event) {
        if (!opened || event.source !== opened || event.origin !== window.location.origin) { return; }
        if (!event.data || event.data.subject !== "reperes.ticket.request") { return; }
        opened.postMessage({ subject: "reperes.ticket", ticket: config.ticket,
                             binding: config.binding }, window.location.origin);
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        opened = window.open(form.action, "_blank");
        if (!opened) { return; }
        form.hidden = true;
        byId("lti-opened").hidden = false;
      });
      if (config.check_session) {
        var offer = function () {
          byId("lti-wait").hidden = true;
          byId("lti-new-window").hidden = false;
        };
        fetch(config.session_url, { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { return r.json(); })
          .then(function (answer) {
            if (answer.signed_in) { window.location.replace(config.home); } else { offer(); }
          }, offer);
      }
    },

    // The new window: ask the page that opened it (our origin only) for the ticket, post it.
    "continue": function () {
      var form = byId("lti-continue-form");
      var done = false;
      window.addEventListener("message", function (event) {
        if (done || event.origin !== window.location.origin || event.source !== window.opener) { return; }
        var data = event.data;
        if (!data || data.subject !== "reperes.ticket" || typeof data.ticket !== "string" ||
            typeof data.binding !== "string") { return; }
        done = true;
        form.elements.ticket.value = data.ticket;
        form.elements.binding.value = data.binding;
        form.submit();
      });
      function failed() {
        if (done) { return; }
        byId("lti-continue-wait").hidden = true;
        byId("lti-continue-failed").hidden = false;
      }
      if (!window.opener) { failed(); return; }
      try {
        window.opener.postMessage({ subject: "reperes.ticket.request" }, window.location.origin);
      } catch (e) { failed(); return; }
      setTimeout(failed, 10000);
    },

    // LTI Dynamic Registration: tell the platform the registration is done.
    registered: function () {
      (window.opener || window.parent).postMessage({ subject: "org.imsglobal.lti.close" }, "*");
    },

    // A form that goes on by itself (the deep-linking answer to the platform).
    autopost: function () { byId("autopost").submit(); }
  };

  var element = byId("lti-config");
  if (!element) { return; }
  var config = JSON.parse(element.textContent);
  if (pages.hasOwnProperty(config.page)) { pages[config.page](config); }
})();
