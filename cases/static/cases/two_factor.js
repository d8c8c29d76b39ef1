// The 2FA page (templates/two_factor/index.html): once django-otp-webauthn's script has
// registered a security key, reload so the new key shows in the list.
document.addEventListener("otp_webauthn.register_complete", () => window.location.reload());
