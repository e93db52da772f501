// On every page: the service worker for drill day, the drill-day context prepared on the home page, and
// a logout that leaves nothing of the user on the phone.
import { SHELL_CACHE, allRecords, forgetEverything, prepare } from "./store.js";

async function setUp() {
  if (!("serviceWorker" in navigator)) return;
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const registration = await navigator.serviceWorker.ready;
  if (!(await caches.has(SHELL_CACHE))) {
    await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = resolve;
      registration.active.postMessage("precache", [channel.port2]);
    });
  }
  const drillNow = document.getElementById("drill-now");
  if (drillNow && drillNow.dataset.context) await prepare(drillNow.dataset.context);
  document.body.dataset.drilldayReady = "1";
}

for (const form of document.querySelectorAll("form[data-logout]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const unsent = (await allRecords().catch(() => [])).length;
    if (unsent && !window.confirm(form.dataset.unsentWarning.replace("%(n)s", unsent))) return;
    await forgetEverything().catch(() => undefined);
    form.submit();
  });
}

setUp().catch(() => { document.body.dataset.drilldayReady = "0"; });
