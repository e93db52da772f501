// The subscribe page's feed filters: on every change, ask the server what the chosen filter gives (the signed
// link, the number of events and the size) and show it; the form's button does the same without this script.
(function () {
  "use strict";

  function query(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) { params.append(name, value); });
    return params.toString();
  }

  function connect(form) {
    var card = form.closest(".card");
    var summary = form.querySelector("[data-feed-summary]");
    var url = card.querySelector("[data-feed-url]");
    var webcal = card.querySelector("[data-feed-webcal]");
    var asked = 0;

    function update() {
      var mine = ++asked;
      summary.textContent = "…";
      fetch(form.dataset.feedPreview + "?" + query(form), {credentials: "same-origin",
                                                          headers: {"Accept": "application/json"}})
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (mine !== asked) { return; }  // a later choice is on its way
          if (!answer.url) { summary.textContent = answer.detail || ""; return; }
          summary.textContent = answer.summary;
          url.value = answer.url;
          webcal.href = answer.webcal;
        })
        .catch(function () { if (mine === asked) { summary.textContent = ""; } });
    }

    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); update(); });
    if (!summary.textContent.trim()) { update(); }
  }

  document.querySelectorAll("form[data-feed-preview]").forEach(connect);
}());
