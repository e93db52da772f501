// Behaviour shared by every form, so that nothing a user typed is lost on the way:
// - fields marked data-show-when="field=value" show only when they apply;
// - forms marked data-warn-unsaved ask before the page is left with unsaved input;
// - a file over the upload limit is refused here, before minutes of upload on a slow link.
(function () {
  "use strict";
  var body = document.body;

  function showWhen(wrapper) {
    var rule = wrapper.dataset.showWhen.split("="), form = wrapper.closest("form");
    var control = form && form.querySelector("[name='" + rule[0] + "']");
    if (!control) { return; }
    var values = rule[1].split("|");
    var update = function () { wrapper.hidden = values.indexOf(control.value) === -1; };
    control.addEventListener("change", update);
    update();
  }
  document.querySelectorAll("[data-show-when]").forEach(showWhen);

  var dirty = new Set();
  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    var mark = function () { dirty.add(form); };
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    form.addEventListener("submit", function () { dirty.clear(); });
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty.size) { event.preventDefault(); event.returnValue = ""; }
  });

  var limit = parseInt(body.dataset.maxUploadBytes || "0", 10);
  function checkSize(input) {
    var tooLarge = Array.prototype.filter.call(input.files || [], function (f) { return f.size > limit; });
    var message = tooLarge.length ? body.dataset.msgTooLarge.replace("%(name)s", tooLarge[0].name) : "";
    input.setCustomValidity(message);
    var note = input.parentElement.querySelector(".upload-too-large");
    if (!note) {
      note = document.createElement("div");
      note.className = "invalid-feedback d-block upload-too-large";
      note.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", note);
    }
    note.textContent = message;
    input.classList.toggle("is-invalid", !!message);
    if (message) { input.value = ""; }
  }
  if (limit) {
    document.querySelectorAll("input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () { checkSize(input); });
    });
  }
}());
