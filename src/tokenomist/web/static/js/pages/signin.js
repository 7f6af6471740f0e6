// Sign in, or create an account (the server may have sign-up turned off: its answer says so).
import { $ } from "../util.js";
import * as api from "../api.js";

export function render(main, { next }) {
  main.innerHTML = `
    <form id="login" class="card narrow" novalidate>
      <h1 id="login-title">Sign in</h1>
      <label>Email <input name="email" type="email" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password"
        required minlength="8"></label>
      <button type="submit" id="login-submit">Sign in</button>
      <p class="error" id="login-error" role="alert"></p>
      <p class="muted"><span id="switch-text">New here?</span>
        <button type="button" class="link" id="switch-mode">Create an account</button></p>
    </form>`;
  let register = false;
  const form = $("#login");
  $("#switch-mode").addEventListener("click", () => {
    register = !register;
    $("#login-title").textContent = register ? "Create an account" : "Sign in";
    $("#login-submit").textContent = register ? "Create account" : "Sign in";
    $("#switch-text").textContent = register ? "Have an account?" : "New here?";
    $("#switch-mode").textContent = register ? "Sign in instead" : "Create an account";
    form.password.autocomplete = register ? "new-password" : "current-password";
    $("#login-error").textContent = "";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = $("#login-error");
    error.textContent = "";
    if (!form.email.value || !form.password.value) {
      error.textContent = "Enter your email and password.";
      return;
    }
    const button = $("#login-submit");
    button.disabled = true;
    try {
      await api.signIn(form.email.value.trim(), form.password.value, register);
      next();
    } catch (err) {
      error.textContent = err instanceof api.Unreachable
        ? `Tokenomist can't be reached: ${err.message}. Try again when the server is up.`
        : err.status === 429 ? `${err.message} (too many attempts; wait a little)`
          : (err.details && err.details[0] && err.details[0].message
            ? `${err.message}: ${err.details.map((d) => d.message).join("; ")}` : err.message);
      button.disabled = false;
    }
  });
  form.email.focus();
}
