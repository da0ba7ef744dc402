/* Reloads the page every data-seconds (on this script's tag) while it is visible and nothing
   typed would be lost. */
"use strict";

(() => {
  const seconds = Number(document.currentScript.dataset.seconds);
  const typing = () => {
    const el = document.activeElement;
    const focused = el && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
    const edited = [...document.querySelectorAll("input:not([type=hidden]), textarea")]
      .some((field) => field.value !== field.defaultValue);
    return focused || edited;
  };
  setInterval(() => { if (!document.hidden && !typing()) location.reload(); }, seconds * 1000);
})();
