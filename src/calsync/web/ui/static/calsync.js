// calsync's web interface: copy buttons for feed URLs. Everything else works without JavaScript.
"use strict";

function copyField(button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) {
    return;
  }
  const done = () => {
    button.textContent = "Copied";
    button.dataset.copied = "";
    setTimeout(() => {
      button.textContent = "Copy";
      delete button.dataset.copied;
    }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => {
      field.select();
    });
  } else {
    field.select();
    if (document.execCommand("copy")) {
      done();
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.setAttribute("aria-live", "polite");
    button.addEventListener("click", () => copyField(button));
  }
});
