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
  // <table class="table-cards">: below the md breakpoint each row shows as a card (static/css/layout.css); each
  // cell is labelled with its column, the first cell led by a link is the card's title, and the table keeps its
  // roles so that a screen reader still reads rows and columns.
  document.querySelectorAll("table.table-cards").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.setAttribute("role", "table");
    table.querySelectorAll("thead, tbody").forEach(function (group) { group.setAttribute("role", "rowgroup"); });
    table.querySelectorAll("tr").forEach(function (row) { row.setAttribute("role", "row"); });
    table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("role", "columnheader"); });
    table.querySelectorAll("tbody > tr").forEach(function (row) {
      var titled = false;
      Array.prototype.forEach.call(row.children, function (cell, index) {
        cell.setAttribute("role", "cell");
        var lead = cell.firstElementChild;
        if (!titled && lead && lead.tagName === "A" && !lead.classList.contains("btn")
            && cell.textContent.trim().indexOf(lead.textContent.trim()) === 0) {
          titled = true;
          cell.classList.add("cell-title");
        } else if (heads[index] && !cell.hasAttribute("colspan")) {
          cell.dataset.label = heads[index];
        }
      });
    });
  });

  // A box that scrolls sideways (a wide table or chart on a phone) can be scrolled with the keyboard too.
  function focusableScrollers() {
    document.querySelectorAll(".table-responsive, .overflow-x-auto").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) { box.setAttribute("tabindex", "0"); box.dataset.scrollFocus = "1"; }
      } else if (box.dataset.scrollFocus) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
}());
