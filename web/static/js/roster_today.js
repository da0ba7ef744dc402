/* Opens the roster grid scrolled so that today, when shown, is in view beside the names. */
"use strict";

(() => {
  const box = document.querySelector(".roster-scroll");
  const today = box && box.querySelector(".day-label.today");
  if (!today) return;
  const names = box.querySelector(".who").offsetWidth;
  const offset = today.getBoundingClientRect().left - box.getBoundingClientRect().left;
  box.scrollLeft += Math.max(0, offset - names - today.offsetWidth);
})();
