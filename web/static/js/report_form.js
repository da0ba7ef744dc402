/* The report form (web/templates/expert/report_form.html): fills the sections from the exam
   template chosen, in the language chosen; inserts a macro at the cursor of the section being
   written; grows each section with its text; asks for the discrepancy on a final only.
   Listens on the document: live.js may swap the page's <main>, form included, for a fresh one. */
"use strict";

(() => {
  const sections = () => document.querySelectorAll("#report-form textarea[data-section]");
  let writing = "findings"; // the section the cursor was last in

  const grow = (area) => {
    area.style.height = "auto";
    area.style.height = `${area.scrollHeight + 2}px`;
  };

  const showDiscrepancy = () => {
    const discrepancy = document.getElementById("discrepancy");
    if (!discrepancy) return;
    const kind = document.querySelector('#report-form input[name="kind"]:checked');
    const final = !kind || kind.value === "final";
    discrepancy.hidden = !final;
    discrepancy.disabled = !final;
  };

  const applyTemplate = (button) => {
    const name = document.getElementById("template-choice").value;
    const language = document.getElementById("template-language").value;
    const texts = JSON.parse(document.getElementById("report-form").dataset.templates);
    const typed = [...sections()].some((area) => area.value.trim());
    if (typed && !window.confirm(button.dataset.replace)) return;
    const chosen = name ? texts[name][language] : null;
    for (const area of sections()) {
      area.value = chosen ? chosen[area.dataset.section] : "";
      grow(area);
    }
    document.getElementById("template").value = name;
    document.querySelector(`#report-form textarea[data-section="${writing}"]`).focus();
  };

  const insertMacro = (button) => {
    const area = document.querySelector(`#report-form textarea[data-section="${writing}"]`);
    const { selectionStart: start, selectionEnd: end, value } = area;
    const space = start > 0 && !/\s$/.test(value.slice(0, start)) ? " " : "";
    area.setRangeText(space + button.dataset.body, start, end, "end");
    area.focus();
    grow(area);
  };

  // A click on a macro must not take the focus (and the cursor) from the section first.
  document.addEventListener("mousedown", (e) => {
    if (e.target.closest("#report-form button.macro")) e.preventDefault();
  });
  document.addEventListener("click", (e) => {
    const button = e.target.closest("#report-form button");
    if (!button) return;
    if (button.id === "apply-template") applyTemplate(button);
    else if (button.classList.contains("macro")) insertMacro(button);
  });
  document.addEventListener("focusin", (e) => {
    if (e.target.matches("#report-form textarea[data-section]")) writing = e.target.dataset.section;
  });
  document.addEventListener("input", (e) => {
    if (e.target.matches("#report-form textarea[data-section]")) grow(e.target);
  });
  document.addEventListener("change", (e) => {
    if (e.target.matches('#report-form input[name="kind"]')) showDiscrepancy();
  });
  sections().forEach(grow);
  showDiscrepancy();
})();
