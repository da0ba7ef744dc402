/* The report form (web/templates/expert/report_form.html): fills the sections from the exam
   template chosen, in the language chosen; inserts a macro at the cursor of the section being
   written; grows each section with its text; asks for the discrepancy on a final only. */
"use strict";

(() => {
  const form = document.getElementById("report-form");
  if (!form) return;
  const texts = JSON.parse(document.getElementById("template-texts").textContent);
  const sections = Array.from(form.querySelectorAll("textarea[data-section]"));
  let writing = form.querySelector('textarea[data-section="findings"]');

  const grow = (area) => {
    area.style.height = "auto";
    area.style.height = `${area.scrollHeight + 2}px`;
  };

  document.getElementById("apply-template").addEventListener("click", (e) => {
    const name = document.getElementById("template-choice").value;
    const language = document.getElementById("template-language").value;
    const typed = sections.some((area) => area.value.trim());
    if (typed && !window.confirm(e.target.dataset.replace)) return;
    const chosen = name ? texts[name][language] : null;
    for (const area of sections) {
      area.value = chosen ? chosen[area.dataset.section] : "";
      grow(area);
    }
    document.getElementById("template").value = name;
    writing.focus();
  });

  for (const button of form.querySelectorAll("button.macro")) {
    // Keep the cursor where it is: a click on the button must not take the focus first.
    button.addEventListener("mousedown", (e) => e.preventDefault());
    button.addEventListener("click", () => {
      const text = button.dataset.body;
      const { selectionStart: start, selectionEnd: end, value } = writing;
      const before = start > 0 && !/\s$/.test(value.slice(0, start)) ? " " : "";
      writing.setRangeText(before + text, start, end, "end");
      writing.focus();
      grow(writing);
    });
  }

  for (const area of sections) {
    area.addEventListener("focus", () => { writing = area; });
    area.addEventListener("input", () => grow(area));
    grow(area);
  }

  const discrepancy = document.getElementById("discrepancy");
  const kinds = form.querySelectorAll('input[name="kind"]');
  const showDiscrepancy = () => {
    if (!discrepancy) return;
    const kind = form.querySelector('input[name="kind"]:checked');
    const final = !kind || kind.value === "final";
    discrepancy.hidden = !final;
    discrepancy.disabled = !final;
  };
  for (const kind of kinds) kind.addEventListener("change", showDiscrepancy);
  showDiscrepancy();
})();
