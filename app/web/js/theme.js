// The colour scheme: the system's (prefers-color-scheme) until the person picks one with the
// toggle; the pick is remembered (localStorage) and applied before the first paint, since this
// classic script runs in <head>, before the body exists. Picking what the system prefers forgets
// the pick, so the page follows the system again. style.css derives every colour from
// `color-scheme` (light-dark()), so without this script the page still follows the system.
(() => {
  const KEY = "conversations.theme";
  const root = document.documentElement;
  const system = matchMedia("(prefers-color-scheme: dark)");

  const picked = () => {
    try {
      const value = localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch {
      return null; // storage disabled: follow the system
    }
  };
  const systemTheme = () => (system.matches ? "dark" : "light");

  function show(theme) {
    root.dataset.theme = theme;
    document.getElementById("theme-toggle")?.setAttribute("aria-pressed", String(theme === "dark"));
  }

  const apply = () => show(picked() ?? systemTheme());

  function toggle() {
    const next = root.dataset.theme === "dark" ? "light" : "dark";
    try {
      if (next === systemTheme()) localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      // not remembered, but shown on this page all the same
    }
    show(next);
  }

  apply();
  system.addEventListener("change", apply);
  window.addEventListener("storage", (event) => event.key === KEY && apply()); // picked in another tab
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("theme-toggle")?.addEventListener("click", toggle);
    apply();
  });
})();
