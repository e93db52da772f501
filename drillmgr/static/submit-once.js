// A form's submit buttons disable themselves while its request is in flight, so that a second tap on a slow
// link sends nothing. The server does not rely on this: every form also carries a one-time submission key.
// Back to a form that was sent, when the browser loads the page afresh (with a new key), the form gets the key
// it was sent with again, so that sending it again finds the first result instead of making a second record.
(function () {
  "use strict";
  var BUTTONS = "button:not([type]), button[type=submit], input[type=submit], input[type=image]";
  var KEY = "submission_key";

  function slot(form) {
    return "drillmgr-sent:" + location.pathname + location.search + "#" + Array.prototype.indexOf.call(document.forms, form);
  }

  function remember(form) {
    try {
      if (form.elements[KEY]) {
        sessionStorage.setItem(slot(form), form.elements[KEY].value);
      }
    } catch (e) { /* storage may be unavailable: the key on the page still guards a double tap */ }
  }

  var navigation = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  if (navigation && navigation.type === "back_forward") {
    Array.prototype.forEach.call(document.forms, function (form) {
      var sent = null;
      try { sent = sessionStorage.getItem(slot(form)); } catch (e) { /* see remember() */ }
      if (sent && form.elements[KEY]) {
        form.elements[KEY].value = sent;
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.method !== "post" || (form.target && form.target !== "_self")) {
      return;
    }
    if (form.hasAttribute("data-submitting")) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitting", "");
    remember(form);
    // After the browser has read the form, so that the pressed button's name and value are still sent.
    window.setTimeout(function () {
      var buttons = Array.prototype.slice.call(form.querySelectorAll(BUTTONS));
      if (form.id) {
        buttons = buttons.concat(Array.prototype.slice.call(document.querySelectorAll("[form='" + form.id + "']")));
      }
      buttons.forEach(function (button) {
        if (!button.disabled) {
          button.disabled = true;
          button.setAttribute("data-submitting", "");
        }
      });
    }, 0);
  });

  // Back to a page the browser kept: its forms work again (the server answers a repeat with the first result).
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-submitting]"), function (element) {
      element.removeAttribute("data-submitting");
      if (element.tagName !== "FORM") {
        element.disabled = false;
      }
    });
  });
}());
