// The live exercise: the controller's console and the players' screen poll live.json (a 204 while nothing
// changed) and draw the injects. Text goes in through textContent only.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) { return; }
  var role = root.dataset.role;
  var list = document.getElementById("live-injects");
  var statusBadge = document.getElementById("live-status");
  var clock = document.getElementById("live-clock");
  var labels = JSON.parse(root.dataset.statusLabels || "{}");
  var tick = null;
  var pending = false;
  var state = null;
  var shownAt = Date.now();
  var POLL_MS = 500;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin", body: body,
                       headers: {"X-CSRFToken": root.dataset.csrf}});
  }

  function timeOf(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function drawClock() {
    if (!state || !clock) { return; }
    var seconds = state.session.elapsed_seconds;
    if (state.session.status === "running") { seconds += Math.floor((Date.now() - shownAt) / 1000); }
    var m = Math.floor(seconds / 60), s = seconds % 60;
    clock.textContent = m + ":" + (s < 10 ? "0" : "") + s;
  }

  function attachment(inject) {
    if (!inject.attachment) { return null; }
    var url = root.dataset.fileUrl.replace("/0/", "/" + inject.id + "/");
    var wrap = el("div", "mt-1 inject-file");
    if (inject.attachment.content_type.indexOf("image/") === 0) {
      var img = el("img", "img-fluid rounded border");
      img.src = url;
      img.alt = root.dataset.msgFile;
      wrap.appendChild(img);
    } else {
      var link = el("a", "small", root.dataset.msgFile + ": " + inject.attachment.filename);
      link.href = url;
      wrap.appendChild(link);
    }
    return wrap;
  }

  function drawConsole() {
    list.replaceChildren();
    if (!state.injects.length) { list.appendChild(el("li", "list-group-item text-secondary", root.dataset.msgNone)); }
    state.injects.forEach(function (inject) {
      var item = el("li", "list-group-item inject" + (inject.released_at ? " list-group-item-success" : ""));
      item.dataset.injectId = inject.id;
      var head = el("div", "d-flex flex-wrap gap-2 align-items-center");
      head.appendChild(el("span", "badge text-bg-secondary", "#" + inject.number + " · +" + inject.offset_minutes + "′"));
      head.appendChild(el("span", "small text-secondary", inject.sender + " → " + inject.recipient));
      if (inject.unplanned) { head.appendChild(el("span", "badge text-bg-warning", root.dataset.msgUnplanned)); }
      if (inject.released_at) {
        head.appendChild(el("span", "badge text-bg-success ms-auto released", root.dataset.msgReleased + " " + timeOf(inject.released_at)));
      } else if (state.session.status === "running") {
        var button = el("button", "btn btn-sm btn-danger ms-auto release", root.dataset.msgRelease);
        button.type = "button";
        button.addEventListener("click", function () {
          button.disabled = true;
          post(root.dataset.releaseUrl.replace("/0/", "/" + inject.id + "/")).then(poll);
        });
        head.appendChild(button);
      }
      item.appendChild(head);
      item.appendChild(el("div", "text-pre-line message", inject.message));
      var file = attachment(inject);
      if (file) { item.appendChild(file); }
      if (inject.expected_action) {
        item.appendChild(el("div", "small text-secondary text-pre-line", root.dataset.msgExpected + ": " + inject.expected_action));
      }
      if (inject.released_at) {
        var answers = el("div", "small mt-1 answers", (inject.responses || []).length + " " + root.dataset.msgAnswers);
        (inject.responses || []).forEach(function (r) {
          answers.appendChild(el("div", "border-start ps-2 mt-1 text-pre-line", r.player + " (" + r.seconds_taken + root.dataset.msgSeconds + "): " + r.decision));
        });
        item.appendChild(answers);
      }
      list.appendChild(item);
    });
  }

  function drawPlay() {
    list.replaceChildren();
    var released = state.injects.slice().reverse();
    if (!released.length) { list.appendChild(el("p", "text-secondary", root.dataset.msgWaiting)); }
    released.forEach(function (inject) {
      var card = el("div", "card shadow-sm mb-2 inject");
      card.dataset.injectId = inject.id;
      var body = el("div", "card-body p-2");
      body.appendChild(el("div", "small text-secondary", timeOf(inject.released_at) + " · " + inject.sender + " → " + inject.recipient));
      body.appendChild(el("div", "fs-6 text-pre-line message", inject.message));
      var picture = attachment(inject);
      if (picture) { body.appendChild(picture); }
      var mine = (inject.responses || [])[0];
      if (mine) {
        body.appendChild(el("div", "small border-start ps-2 mt-1 text-pre-line my-answer", root.dataset.msgAnswered + " (" + mine.seconds_taken + root.dataset.msgSeconds + "): " + mine.decision));
      } else if (state.may_respond) {
        var form = el("form", "mt-2 respond");
        var area = el("textarea", "form-control form-control-sm mb-1");
        area.name = "decision"; area.rows = 2; area.required = true; area.maxLength = 5000;
        area.setAttribute("aria-label", root.dataset.msgAnswer);
        area.placeholder = root.dataset.msgAnswer;
        var send = el("button", "btn btn-sm btn-primary w-100", root.dataset.msgSend);
        form.appendChild(area); form.appendChild(send);
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          send.disabled = true;
          var data = new FormData();
          data.append("decision", area.value);
          post(root.dataset.respondUrl.replace("/0/", "/" + inject.id + "/"), data).then(function () { tick = null; poll(); });
        });
        body.appendChild(form);
      }
      card.appendChild(body);
      list.appendChild(card);
    });
  }

  function draw() {
    if (statusBadge) { statusBadge.textContent = labels[state.session.status] || state.session.status; }
    var focused = document.activeElement && document.activeElement.tagName === "TEXTAREA" && list.contains(document.activeElement);
    pending = false;
    if (role === "console") { drawConsole(); } else if (!focused) { drawPlay(); } else { pending = true; }
    drawClock();
  }

  var inFlight = false;

  function poll() {
    if (inFlight) { return Promise.resolve(); }
    inFlight = true;
    var url = root.dataset.url + (tick !== null ? "?tick=" + tick : "");
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (response) {
      if (response.status !== 200) {
        if (pending && state) { draw(); }
        return;
      }
      return response.json().then(function (data) {
        state = data;
        tick = data.session.tick;
        shownAt = Date.now();
        draw();
      });
    }).catch(function () {}).then(function () { inFlight = false; });
  }

  var auto = document.getElementById("auto-release");
  setInterval(function () {
    if (auto && auto.checked) { post(root.dataset.dueUrl); }
  }, 5000);
  setInterval(poll, POLL_MS);
  setInterval(drawClock, 1000);
  poll();
}());
