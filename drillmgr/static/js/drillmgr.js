// Behaviour that pages declare with data- attributes, so that no page needs an inline script or handler
// (the Content-Security-Policy allows scripts from these files only).
(function () {
  "use strict";

  // <form data-confirm="Question?">: asks before submitting.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });

  // <button data-copy="input-id">: copies the input's text.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      input.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(input.value); } else { document.execCommand("copy"); }
    });
  });

  // <input data-select-on-click>: one click selects all of it, ready to copy.
  document.querySelectorAll("[data-select-on-click]").forEach(function (input) {
    input.addEventListener("click", function () { input.select(); });
  });

  // <button data-print>: the browser's print dialog.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
}());
