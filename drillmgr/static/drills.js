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

// The bulk plan form: the custom rule field only for a custom rule.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) { return; }
  var repeat = form.querySelector("[name='repeat']"), group = document.getElementById("rrule-group");
  function apply() { if (repeat && group) { group.hidden = repeat.value !== "custom"; } }
  if (repeat) { repeat.addEventListener("change", apply); }
  apply();
})();

// Participant picker: search by name, narrow to a township, "select all schools in this township".
(function () {
  "use strict";
  var picker = document.getElementById("participant-picker");
  if (!picker) { return; }
  var search = document.getElementById("picker-search");
  var township = document.getElementById("picker-township");
  var allSchools = document.getElementById("picker-all-schools");
  var count = document.getElementById("picker-count");
  var empty = document.getElementById("picker-empty");
  var items = Array.prototype.slice.call(picker.querySelectorAll(".picker-item"));

  function box(item) { return item.querySelector("input[type=checkbox]"); }

  function recount() {
    count.textContent = String(items.filter(function (item) { return box(item).checked; }).length);
  }

  function filter() {
    var query = (search.value || "").trim().toLowerCase();
    var town = township.value;
    var shown = 0;
    items.forEach(function (item) {
      var visible = (!query || item.dataset.name.toLowerCase().indexOf(query) !== -1) &&
        (!town || item.dataset.township === town);
      item.hidden = !visible;
      if (visible) { shown += 1; }
    });
    empty.hidden = shown !== 0;
    allSchools.disabled = !town;
  }

  search.addEventListener("input", filter);
  township.addEventListener("change", filter);
  allSchools.addEventListener("click", function () {
    items.forEach(function (item) {
      if (item.dataset.township === township.value && item.dataset.kind === "school") { box(item).checked = true; }
    });
    recount();
  });
  document.getElementById("picker-clear").addEventListener("click", function () {
    items.forEach(function (item) { box(item).checked = false; });
    recount();
  });
  picker.addEventListener("change", function (event) {
    if (event.target.type === "checkbox") { recount(); }
  });
  // Enter in the search box narrows the list; it must not send the form.
  search.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
  filter();
  recount();
})();

// The plan form tells, before saving, whether the start falls on a weekend, a holiday or an adjusted working day.
(function () {
  "use strict";
  var hint = document.getElementById("day-flags");
  var start = document.querySelector("#drill-form [name='starts_at']");
  if (!hint || !start || !window.fetch) { return; }
  function show() {
    var day = (start.value || "").slice(0, 10);
    hint.textContent = "";
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) { return; }
    fetch(hint.dataset.url + "?day=" + encodeURIComponent(day), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : {flags: []}; })
      .then(function (data) {
        hint.textContent = data.flags.map(function (flag) { return flag.text; }).join(" · ");
        hint.classList.toggle("text-warning-emphasis", data.flags.length > 0);
      })
      .catch(function () { hint.textContent = ""; });
  }
  start.addEventListener("change", show);
  show();
})();
