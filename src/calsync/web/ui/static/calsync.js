// calsync's web interface: copy buttons for feed URLs, and "Sync now" that waits for the outcome.
// Everything works without JavaScript: the forms post and the pages say what happened.
"use strict";

const SYNC_POLL_MS = 1000;
const SYNC_POLLS = 120; // two minutes: a fetch is capped at 60 s, plus a queue

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

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Ask for the sync (the form's POST), then poll status.json until a sync that started after
// the request has finished (sync_requested_at is cleared), and show that run's outcome.
async function syncNow(form) {
  const button = form.querySelector("button");
  const state = form.querySelector(".sync-state");
  button.disabled = true;
  state.textContent = "Syncing…";
  try {
    const asked = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    });
    if (!asked.ok) {
      throw new Error(`HTTP ${asked.status}`);
    }
    for (let poll = 0; poll < SYNC_POLLS; poll += 1) {
      await pause(SYNC_POLL_MS);
      const answer = await fetch(form.dataset.status, { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) {
        throw new Error(`HTTP ${answer.status}`);
      }
      const status = await answer.json();
      if (status.sync_requested_at === null && status.last_run) {
        window.location.assign(`${form.dataset.page}?run=${encodeURIComponent(status.last_run.id)}`);
        return;
      }
    }
    state.textContent = "The sync has not finished yet: reload the page in a moment to see it.";
  } catch (error) {
    state.textContent = `Could not follow the sync (${error.message}): reload the page.`;
  }
  button.disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.setAttribute("aria-live", "polite");
    button.addEventListener("click", () => copyField(button));
  }
  for (const form of document.querySelectorAll("form.sync-now")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      syncNow(form);
    });
  }
});
