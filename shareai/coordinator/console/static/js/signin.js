import { api } from "./lib.js";

const form = document.getElementById("signin-form");
const error = form.querySelector(".error");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  try {
    await api("signin", { method: "POST", body: { email: data.get("email"), password: data.get("password") } });
    location.assign("/console/");
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
});
