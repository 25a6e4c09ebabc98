// The shell: the login form (the key goes to sessionStorage and nowhere else) and the hash router.
// No page is drawn, and no data asked for, before there is a key.

import { api, ApiError, auth } from "./api.js";
import { h, replace } from "./dom.js";
import { auditPage } from "./pages/audit.js";
import { explanationsPage } from "./pages/explanations.js";
import { investigationPage } from "./pages/investigation.js";
import { jobsPage } from "./pages/jobs.js";

const ROUTES = [
  [/^#\/investigations\/(\d+)$/, (main, m) => investigationPage(main, Number(m[1]))],
  [/^#\/audits\/(\d+)$/, (main, m) => auditPage(main, Number(m[1]))],
  [/^#\/jobs$/, (main) => jobsPage(main)],
  [/^#\/explanations(\?.*)?$/, (main) => explanationsPage(main)],
];

let stopPage = null;

function showLogin(message) {
  if (stopPage) stopPage();
  stopPage = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("login").hidden = false;
  replace(document.getElementById("main"));
  document.getElementById("login-error").textContent = message || "";
}

async function route() {
  if (!auth.get()) return showLogin();
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  if (stopPage) stopPage();
  stopPage = null;
  const main = document.getElementById("main");
  const hash = location.hash || "#/explanations";
  for (const [pattern, page] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      replace(main, h("p", { class: "muted" }, "loading…"));
      stopPage = (await page(main, match)) || null;
      return;
    }
  }
  replace(main, h("p", { class: "error" }, `no such page: ${hash}`));
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  auth.set(input.value.trim());
  input.value = "";
  try {
    await api("/explanations?limit=1");
  } catch (error) {
    auth.clear();
    return showLogin(error instanceof ApiError ? error.message : String(error));
  }
  route();
});

document.getElementById("logout").addEventListener("click", () => {
  auth.clear();
  showLogin("signed out");
});

window.addEventListener("autointerp:logout", (event) => showLogin(event.detail));
window.addEventListener("hashchange", route);
route();
