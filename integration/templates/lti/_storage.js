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
