/* Small behaviours of every page, declared in the HTML by data- attributes (no inline script:
   the Content-Security-Policy allows scripts from Garde's own files only).
   - form[data-confirm]: asks the question before submitting;
   - select[data-submit-on-change]: submits its form when a choice is made;
   - input[data-select-on-focus]: selects its whole value, ready to copy;
   - button[data-copy=ID]: copies the value of the field ID, then says its data-copied. */
"use strict";

document.addEventListener("submit", (e) => {
  const question = e.target.dataset && e.target.dataset.confirm;
  if (question && !window.confirm(question)) e.preventDefault();
});

document.addEventListener("change", (e) => {
  if (e.target.matches("select[data-submit-on-change]")) e.target.form.submit();
});

document.addEventListener("focusin", (e) => {
  if (e.target.matches("input[data-select-on-focus]")) e.target.select();
});

document.addEventListener("click", (e) => {
  const id = e.target.dataset && e.target.dataset.copy;
  if (!id) return;
  const field = document.getElementById(id);
  field.select();
  (navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject()).then(
    () => { e.target.textContent = e.target.dataset.copied; },
    () => { document.execCommand("copy"); e.target.textContent = e.target.dataset.copied; });
});
