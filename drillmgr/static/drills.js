// Drill form: pre-select the three key links for a comprehensive live drill of a key county
// (item 13), and show the repeat / completion fields only when they apply.
(function () {
  "use strict";
  var form = document.getElementById("drill-form");
  if (!form) { return; }
  var keyValues = JSON.parse(form.dataset.keyValues || "[]");
  var keyLinks = JSON.parse(form.dataset.keyLinks || "[]");
  var byName = function (name) { return form.querySelector("[name='" + name + "']"); };

  function inKeyCounty() {
    var region = byName("region_code"), organizer = byName("organizer");
    var value = region && region.value ? region.value : (organizer ? organizer.value : "");
    return keyValues.indexOf(value) !== -1;
  }

  function applyKeyLinks() {
    var drillForm = byName("form"), scope = byName("scope");
    if (!drillForm || !scope) { return; }
    if (drillForm.value === "live" && scope.value === "comprehensive" && inKeyCounty()) {
      keyLinks.forEach(function (link) {
        var box = document.getElementById("focus-" + link);
        if (box) { box.checked = true; }
      });
      form.classList.add("key-links-applied");
    } else {
      form.classList.remove("key-links-applied");
    }
  }

  function toggle(id, visible) {
    var element = document.getElementById(id);
    if (element) { element.hidden = !visible; }
  }

  function applyToggles() {
    var repeat = byName("repeat"), held = byName("already_held");
    if (repeat) { toggle("rrule-group", repeat.value === "custom"); }
    if (held) { toggle("completion-fields", held.checked); }
  }

  ["form", "scope", "region_code", "organizer"].forEach(function (name) {
    var element = byName(name);
    if (element) { element.addEventListener("change", applyKeyLinks); }
  });
  ["repeat", "already_held"].forEach(function (name) {
    var element = byName(name);
    if (element) { element.addEventListener("change", applyToggles); }
  });
  applyToggles();
})();
