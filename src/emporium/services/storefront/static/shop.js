// Emporium's only script of its own: small progressive enhancements. Every
// page works without it; the CSP allows scripts from this origin only, so
// nothing here is inline.
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.hasAttribute("data-submit-once")) {
    // The Idempotency-Key already makes a second submit the same order; this
    // only spares the shopper a second wait.
    if (form.dataset.submitted === "yes") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "yes";
    var button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-busy", "true");
  }
});
