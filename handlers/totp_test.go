package handlers_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// totpCode is what an authenticator app shows at t.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongCode is a six-digit code that is not right (it differs from every
// code of the accepted window).
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if c != totpCode(t, secret, at.Add(-30*time.Second)) && c != totpCode(t, secret, at) && c != totpCode(t, secret, at.Add(30*time.Second)) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// enrolTOTP turns two-factor sign-in on for the signed-in browser and
// returns the secret and the recovery codes.
func (b *browser) enrolTOTP() (string, []string) {
	b.t.Helper()
	if p := b.submit("/account", "/account/2fa/start", url.Values{}); p.status() != http.StatusSeeOther || p.location() != "/account/2fa/setup" {
		b.t.Fatalf("start enrolment: %d %q", p.status(), p.location())
	}
	setup := b.get("/account/2fa/setup")
	secret := strings.ReplaceAll(setup.find("[data-testid=twofa-secret]").Text(), " ", "")
	if secret == "" {
		b.t.Fatalf("setup page (%d) shows no secret", setup.status())
	}
	done := b.submit("/account/2fa/setup", "/account/2fa/confirm", url.Values{"code": {totpCode(b.t, secret, b.e.clock.Now())}})
	if done.status() != http.StatusOK {
		b.t.Fatalf("confirm: %d", done.status())
	}
	var codes []string
	done.find("[data-testid=recovery-code]").Each(func(_ int, s *goquerySelection) { codes = append(codes, s.Text()) })
	return secret, codes
}

// passwordStep signs in with the password and expects the code step.
func (b *browser) passwordStep(email string) {
	b.t.Helper()
	p := b.submit("/login", "/login", url.Values{"email": {email}, "password": {testPassword}})
	if p.status() != http.StatusSeeOther || p.location() != "/login/2fa" {
		b.t.Fatalf("password step for %s: %d %q, want 303 to /login/2fa", email, p.status(), p.location())
	}
	for _, c := range p.resp.Cookies() {
		switch c.Name {
		case "session":
			if c.MaxAge >= 0 {
				b.t.Fatal("the password step set a session cookie")
			}
		case "signin2fa":
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 || c.MaxAge > 300 {
				b.t.Fatalf("pending cookie attributes: %+v", c)
			}
		}
	}
}

// codeStep posts a code with the anonymous CSRF token of the sign-in page.
func (b *browser) codeStep(code string) page {
	b.t.Helper()
	return b.post("/login/2fa", url.Values{"code": {code}, "_csrf": {b.csrf("/login")}})
}

func auditEntries(t *testing.T, e *env, action string) []db.AuditEntry {
	t.Helper()
	all, err := e.store.ListAudit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.AuditEntry
	for _, a := range all {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

func TestTOTPEnrolment(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("ada@example.com")

	acc := b.get("/account")
	if acc.find("[data-testid=twofa-status]").Text() != "off" || acc.find("[data-testid=twofa-start-form]").Length() != 1 {
		t.Fatalf("account page before enrolment: status %q", acc.find("[data-testid=twofa-status]").Text())
	}
	if p := b.get("/account/2fa/setup"); p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("setup page without an enrolment: %d %q", p.status(), p.location())
	}
	if p := b.get("/account/2fa/qr.png"); p.status() != http.StatusNotFound {
		t.Fatalf("QR code without an enrolment: %d", p.status())
	}

	if p := b.submit("/account", "/account/2fa/start", url.Values{}); p.status() != http.StatusSeeOther || p.location() != "/account/2fa/setup" {
		t.Fatalf("start: %d %q", p.status(), p.location())
	}
	setup := b.get("/account/2fa/setup")
	secret := strings.ReplaceAll(setup.find("[data-testid=twofa-secret]").Text(), " ", "")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw)*8 < 160 {
		t.Fatalf("secret %q: %d bits, err %v; want >= 160", secret, len(raw)*8, err)
	}
	if src, _ := setup.find("[data-testid=twofa-qr]").Attr("src"); src != "/account/2fa/qr.png" {
		t.Fatalf("QR image src = %q, want the signed-in PNG route", src)
	}
	qr := b.get("/account/2fa/qr.png")
	if qr.status() != http.StatusOK || qr.resp.Header.Get("Content-Type") != "image/png" ||
		!bytes.HasPrefix([]byte(qr.body), []byte("\x89PNG\r\n\x1a\n")) || qr.resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("QR: %d %q %q", qr.status(), qr.resp.Header.Get("Content-Type"), qr.resp.Header.Get("Cache-Control"))
	}
	if anon := e.browser().get("/account/2fa/qr.png"); anon.status() != http.StatusSeeOther {
		t.Fatalf("QR for an anonymous visitor: %d", anon.status())
	}

	now := e.clock.Now()
	bad := b.submit("/account/2fa/setup", "/account/2fa/confirm", url.Values{"code": {wrongCode(t, secret, now)}})
	if bad.status() != http.StatusUnprocessableEntity || bad.find(`[data-field="code"]`).Length() != 1 {
		t.Fatalf("wrong confirmation code: %d", bad.status())
	}
	if bad.find("[data-testid=twofa-secret]").Length() != 1 {
		t.Error("the setup page re-rendered without the key")
	}
	if got := b.get("/account").find("[data-testid=twofa-status]").Text(); got != "off" {
		t.Fatalf("after a wrong code 2FA is %q, want off", got)
	}

	done := b.submit("/account/2fa/setup", "/account/2fa/confirm", url.Values{"code": {totpCode(t, secret, now)}})
	if done.status() != http.StatusOK {
		t.Fatalf("confirm: %d", done.status())
	}
	codes := map[string]bool{}
	done.find("[data-testid=recovery-code]").Each(func(_ int, s *goquerySelection) { codes[s.Text()] = true })
	if len(codes) != 10 {
		t.Fatalf("%d distinct recovery codes, want 10", len(codes))
	}
	acc = b.get("/account")
	if acc.find("[data-testid=twofa-status]").Text() != "on" || !strings.Contains(acc.find("[data-testid=recovery-left]").Text(), "10 of 10") {
		t.Fatalf("account after enrolment: %q / %q", acc.find("[data-testid=twofa-status]").Text(), acc.find("[data-testid=recovery-left]").Text())
	}
	for c := range codes {
		if strings.Contains(acc.body, c) {
			t.Fatal("a recovery code is shown again")
		}
	}
	// Once on, the key is never shown again.
	if p := b.get("/account/2fa/qr.png"); p.status() != http.StatusNotFound {
		t.Errorf("QR after enrolment: %d, want 404", p.status())
	}
	if p := b.get("/account/2fa/setup"); p.status() != http.StatusSeeOther {
		t.Errorf("setup page after enrolment: %d, want a redirect", p.status())
	}
	// Stored hashed, not in clear.
	tf, err := e.store.TOTPByUser(context.Background(), u.ID)
	if err != nil || !tf.Enabled || tf.RecoveryLeft != 10 {
		t.Fatalf("stored: %+v, %v", tf, err)
	}
	if len(auditEntries(t, e, "2fa.enrol_start")) != 1 || len(auditEntries(t, e, "2fa.enable")) != 1 {
		t.Error("enrolment not audited")
	}
}

// AUTH-8: valid code; the same code again within 30 s refused; a code from
// step T-2 refused, T-1 accepted.
func TestTOTPSignInAcceptsEachCodeOnce(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	setup := e.browser()
	setup.login("ada@example.com")
	secret, _ := setup.enrolTOTP()

	e.clock.Advance(60 * time.Second)
	b := e.browser()
	b.passwordStep("ada@example.com")
	if ck := b.cookie("session"); ck != nil {
		t.Fatal("a session cookie was set before the second factor")
	}
	pending := b.cookie("signin2fa")
	if pending == nil {
		t.Fatal("no pending sign-in cookie")
	}
	form := b.get("/login/2fa")
	if form.status() != http.StatusOK || form.find(`input[name="code"]`).Length() != 1 {
		t.Fatalf("code page: %d", form.status())
	}
	code := totpCode(t, secret, e.clock.Now())
	p := b.codeStep(code)
	if p.status() != http.StatusSeeOther || p.location() != "/" {
		t.Fatalf("valid code: %d %q", p.status(), p.location())
	}
	if home := b.get("/"); home.status() != http.StatusOK {
		t.Fatalf("signed in after the code: %d", home.status())
	}
	if b.cookie("signin2fa") != nil {
		t.Error("pending cookie kept after sign-in")
	}

	t.Run("same code replayed within 30 s", func(t *testing.T) {
		e.clock.Advance(10 * time.Second)
		r := e.browser()
		r.passwordStep("ada@example.com")
		if p := r.codeStep(code); p.status() != http.StatusUnauthorized || r.get("/").status() != http.StatusSeeOther {
			t.Fatalf("replayed code: %d, want 401 and no session", p.status())
		}
	})
	t.Run("step T-2 refused, T-1 accepted", func(t *testing.T) {
		e.clock.Advance(90 * time.Second)
		now := e.clock.Now()
		r := e.browser()
		r.passwordStep("ada@example.com")
		if p := r.codeStep(totpCode(t, secret, now.Add(-60*time.Second))); p.status() != http.StatusUnauthorized {
			t.Fatalf("code from T-2: %d, want 401", p.status())
		}
		if p := r.codeStep(totpCode(t, secret, now.Add(-30*time.Second))); p.status() != http.StatusSeeOther {
			t.Fatalf("code from T-1: %d, want 303", p.status())
		}
		// T-1 was used: the code of an older step is refused even though
		// it is inside the window.
		o := e.browser()
		o.passwordStep("ada@example.com")
		if p := o.codeStep(totpCode(t, secret, now.Add(-30*time.Second))); p.status() != http.StatusUnauthorized {
			t.Fatalf("T-1 again: %d, want 401", p.status())
		}
	})
	var ok, failed int
	for _, a := range auditEntries(t, e, "login") {
		switch {
		case a.Outcome == "ok" && strings.Contains(a.Details, "authenticator code"):
			ok++
		case a.Outcome == "failed" && strings.Contains(a.Details, "second factor"):
			failed++
		}
	}
	if ok != 2 || failed != 3 {
		t.Errorf("audited %d successful and %d failed code steps, want 2 and 3", ok, failed)
	}
}

func TestTOTPRecoveryCodeWorksOnce(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	setup := e.browser()
	setup.login("ada@example.com")
	_, codes := setup.enrolTOTP()

	b := e.browser()
	b.passwordStep("ada@example.com")
	// As people type them: upper case, spaces for dashes.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	if p := b.codeStep(typed); p.status() != http.StatusSeeOther {
		t.Fatalf("recovery code: %d", p.status())
	}
	if got := b.get("/account").find("[data-testid=recovery-left]").Text(); !strings.Contains(got, "9 of 10") {
		t.Errorf("recovery codes left: %q", got)
	}
	again := e.browser()
	again.passwordStep("ada@example.com")
	if p := again.codeStep(codes[3]); p.status() != http.StatusUnauthorized {
		t.Fatalf("the same recovery code twice: %d, want 401", p.status())
	}
	if p := again.codeStep(codes[4]); p.status() != http.StatusSeeOther {
		t.Fatalf("another recovery code: %d", p.status())
	}
	found := false
	for _, a := range auditEntries(t, e, "login") {
		found = found || (a.Outcome == "ok" && strings.Contains(a.Details, "recovery code, 9 left"))
	}
	if !found {
		t.Error("recovery sign-in not audited")
	}

	t.Run("new codes need the password and replace the old ones", func(t *testing.T) {
		bad := b.submit("/account", "/account/2fa/recovery-codes", url.Values{"recovery_password": {"not my password"}})
		if bad.status() != http.StatusUnprocessableEntity || bad.find(`[data-field="recovery_password"]`).Length() != 1 {
			t.Fatalf("wrong password: %d", bad.status())
		}
		p := b.submit("/account", "/account/2fa/recovery-codes", url.Values{"recovery_password": {testPassword}})
		if p.status() != http.StatusOK || p.find("[data-testid=recovery-code]").Length() != 10 {
			t.Fatalf("new codes: %d, %d codes", p.status(), p.find("[data-testid=recovery-code]").Length())
		}
		fresh := p.find("[data-testid=recovery-code]").First().Text()
		o := e.browser()
		o.passwordStep("ada@example.com")
		if p := o.codeStep(codes[5]); p.status() != http.StatusUnauthorized {
			t.Fatalf("an old code after replacement: %d", p.status())
		}
		if p := o.codeStep(fresh); p.status() != http.StatusSeeOther {
			t.Fatalf("a new code: %d", p.status())
		}
		if len(auditEntries(t, e, "2fa.recovery_codes")) == 0 {
			t.Error("replacement not audited")
		}
	})
}

func TestTOTPBadCodesAreThrottled(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	setup := e.browser()
	setup.login("ada@example.com")
	secret, _ := setup.enrolTOTP()
	e.clock.Advance(30 * time.Second)

	b := e.browser()
	b.passwordStep("ada@example.com")
	for i := range 5 {
		if p := b.codeStep(wrongCode(t, secret, e.clock.Now())); p.status() != http.StatusUnauthorized {
			t.Fatalf("bad code %d: %d", i+1, p.status())
		}
	}
	// The fifth failure locked the account: even the right code waits.
	p := b.codeStep(totpCode(t, secret, e.clock.Now()))
	if p.status() != http.StatusTooManyRequests || !strings.Contains(p.find("[data-testid=form-error]").Text(), "Too many") {
		t.Fatalf("right code while throttled: %d", p.status())
	}
	// The password step is throttled too: it is the same account lock.
	if p := e.browser().submit("/login", "/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}); p.status() != http.StatusUnauthorized {
		t.Fatalf("password while throttled: %d", p.status())
	}
	e.clock.Advance(2 * time.Second)
	if p := b.codeStep(totpCode(t, secret, e.clock.Now())); p.status() != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", p.status())
	}
	var locked, throttled bool
	for _, a := range auditEntries(t, e, "login") {
		locked = locked || a.Outcome == "locked"
		throttled = throttled || a.Outcome == "throttled"
	}
	if !locked || !throttled {
		t.Errorf("audit: locked=%v throttled=%v, want both", locked, throttled)
	}
}

func TestHalfSignedInReachesNothingAndExpires(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	e.addUser("bob@example.com", paylink.RoleAdmin)
	setup := e.browser()
	setup.login("ada@example.com")
	secret, _ := setup.enrolTOTP()
	e.clock.Advance(30 * time.Second)

	b := e.browser()
	b.login("bob@example.com") // signed in as someone else first
	p := b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "_csrf": {b.csrf("/")}})
	if p.status() != http.StatusSeeOther || p.location() != "/login/2fa" {
		t.Fatalf("password step: %d %q", p.status(), p.location())
	}
	for _, path := range []string{"/", "/links", "/account", "/account/2fa/setup", "/admin/users"} {
		if p := b.get(path); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
			t.Fatalf("half-signed-in GET %s: %d %q, want a sign-in redirect", path, p.status(), p.location())
		}
	}
	if p := b.post("/logout", url.Values{"_csrf": {b.csrf("/login")}}); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("half-signed-in POST /logout: %d %q", p.status(), p.location())
	}

	e.clock.Advance(4*time.Minute + 50*time.Second)
	if p := b.get("/login/2fa"); p.status() != http.StatusOK {
		t.Fatalf("code page at 4m50s: %d", p.status())
	}
	e.clock.Advance(15 * time.Second)
	if p := b.get("/login/2fa"); p.status() != http.StatusSeeOther || p.location() != "/login?expired=1" {
		t.Fatalf("code page after 5 minutes: %d %q", p.status(), p.location())
	}
	p = b.post("/login/2fa", url.Values{"code": {totpCode(t, secret, e.clock.Now())}, "_csrf": {b.csrf("/login")}})
	if p.status() != http.StatusSeeOther || p.location() != "/login?expired=1" {
		t.Fatalf("valid code after expiry: %d %q", p.status(), p.location())
	}
	if p := b.get("/"); p.status() != http.StatusSeeOther {
		t.Fatalf("signed in after an expired second step: %d", p.status())
	}
}

func TestPendingSignInEndsWhenTheAccountChanges(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("ada@example.com", paylink.RoleFinance)
	setup := e.browser()
	setup.login("ada@example.com")
	secret, _ := setup.enrolTOTP()
	e.clock.Advance(30 * time.Second)
	b := e.browser()
	b.passwordStep("ada@example.com")
	e.clock.Advance(time.Second)
	// An admin resets the password between the two steps.
	if err := e.store.SetPassword(context.Background(), u.ID, u.PasswordHash, true, "", db.AuditEntry{Action: "user.password_reset"}); err != nil {
		t.Fatal(err)
	}
	p := b.codeStep(totpCode(t, secret, e.clock.Now()))
	if p.status() != http.StatusSeeOther || p.location() != "/login?expired=1" || b.get("/").status() != http.StatusSeeOther {
		t.Fatalf("code after a password reset: %d %q, want back to sign-in", p.status(), p.location())
	}
}

func TestRequire2FASendsUsersToEnrolment(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	e.addUser("fin@example.com", paylink.RoleFinance)
	admin := e.browser()
	admin.login("admin@example.com")
	users := admin.get("/admin/users")
	if users.find("[data-testid=require-2fa-state]").Text() != "optional" {
		t.Fatalf("setting shown as %q", users.find("[data-testid=require-2fa-state]").Text())
	}
	if p := admin.submit("/admin/users", "/admin/users/require-2fa", url.Values{"require": {"1"}}); p.status() != http.StatusSeeOther {
		t.Fatalf("turn on: %d", p.status())
	}
	if on, _ := e.store.TwoFactorRequired(context.Background()); !on {
		t.Fatal("setting not saved")
	}
	if a := auditEntries(t, e, "2fa.require"); len(a) != 1 || !strings.Contains(a[0].Details, `"require2fa":true`) {
		t.Fatalf("setting change audited as %+v", a)
	}

	fin := e.browser()
	fin.login("fin@example.com")
	for _, path := range []string{"/", "/links", "/links/new"} {
		if p := fin.get(path); p.status() != http.StatusSeeOther || p.location() != "/account" {
			t.Fatalf("GET %s without 2FA: %d %q, want 303 to /account", path, p.status(), p.location())
		}
	}
	acc := fin.get("/account")
	if acc.status() != http.StatusOK || acc.find("[data-testid=twofa-required]").Length() != 1 {
		t.Fatalf("account page: %d, notice %d", acc.status(), acc.find("[data-testid=twofa-required]").Length())
	}
	fin.enrolTOTP()
	if p := fin.get("/"); p.status() != http.StatusOK {
		t.Fatalf("after enrolment: %d", p.status())
	}
	// The admin who turned it on is held to it too.
	if p := admin.get("/admin/users"); p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("admin without 2FA: %d %q", p.status(), p.location())
	}
}

func TestDisableTOTPNeedsThePassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("ada@example.com")
	b.enrolTOTP()

	for name, pw := range map[string]string{"wrong": "not my password", "empty": ""} {
		p := b.submit("/account", "/account/2fa/disable", url.Values{"twofa_password": {pw}})
		if p.status() != http.StatusUnprocessableEntity || p.find(`[data-field="twofa_password"]`).Length() != 1 {
			t.Fatalf("%s password: %d", name, p.status())
		}
	}
	if got := b.get("/account").find("[data-testid=twofa-status]").Text(); got != "on" {
		t.Fatalf("2FA after refused disabling: %q", got)
	}
	p := b.submit("/account", "/account/2fa/disable", url.Values{"twofa_password": {testPassword}})
	if p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("disable: %d %q", p.status(), p.location())
	}
	if got := b.get("/account").find("[data-testid=twofa-status]").Text(); got != "off" {
		t.Fatalf("2FA after disabling: %q", got)
	}
	if len(auditEntries(t, e, "2fa.disable")) != 2 { // one failure (the wrong password), one change
		t.Errorf("disable audit entries: %+v", auditEntries(t, e, "2fa.disable"))
	}
	// The password alone signs in again.
	e.browser().login("ada@example.com")
}

func TestAdminResetsTOTPAndEndsSessions(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	a := e.browser()
	a.login("admin@example.com")
	f := e.browser()
	f.login("fin@example.com")
	f.enrolTOTP()

	row := a.get("/admin/users").find(`[data-testid=user-row][data-email="fin@example.com"]`)
	if row.Find("[data-testid=user-2fa]").Text() == "" || !strings.Contains(row.Find("[data-testid=user-2fa]").Text(), "on") {
		t.Fatalf("users page 2FA column: %q", row.Find("[data-testid=user-2fa]").Text())
	}
	if p := a.submit("/admin/users", "/admin/users/"+strconvI(admin.ID)+"/reset-2fa", url.Values{}); p.status() != http.StatusForbidden {
		t.Fatalf("reset own 2FA here: %d, want 403", p.status())
	}
	p := a.submit("/admin/users", "/admin/users/"+strconvI(fin.ID)+"/reset-2fa", url.Values{})
	if p.status() != http.StatusSeeOther || p.location() != "/admin/users" {
		t.Fatalf("reset: %d %q", p.status(), p.location())
	}
	if p := f.get("/account"); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("the user's session after the reset: %d %q", p.status(), p.location())
	}
	if n, _ := e.store.CountUserSessions(context.Background(), fin.ID); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if r := auditEntries(t, e, "2fa.reset"); len(r) != 1 || r[0].Target != "user:"+strconvI(fin.ID) || r[0].ActorID != admin.ID {
		t.Fatalf("reset audited as %+v", r)
	}
	// Password alone now.
	e.browser().login("fin@example.com")
}

// uaTransport sends a fixed User-Agent, as one device would.
type uaTransport struct{ ua string }

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return http.DefaultTransport.RoundTrip(r)
}

func TestAccountSessionsListAndEnd(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("ada@example.com", paylink.RoleFinance)
	laptop, phone, tablet := e.browser(), e.browser(), e.browser()
	laptop.c.Transport = uaTransport{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"}
	phone.c.Transport = uaTransport{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"}
	laptop.login("ada@example.com")
	e.clock.Advance(2 * time.Minute)
	phone.login("ada@example.com")
	tablet.login("ada@example.com")

	acc := laptop.get("/account")
	rows := acc.find("[data-testid=session-row]")
	if rows.Length() != 3 {
		t.Fatalf("%d session rows, want 3", rows.Length())
	}
	mine := acc.find(`[data-testid=session-row][data-current="true"]`)
	if mine.Length() != 1 || mine.Find("[data-testid=this-browser]").Length() != 1 || !strings.Contains(mine.Text(), "Firefox on Windows") {
		t.Fatalf("this browser's row: %q", mine.Text())
	}
	if mine.Find("[data-testid=end-session]").Length() != 0 {
		t.Error("this browser's row offers to end itself")
	}
	other := acc.find(`[data-testid=session-row]:contains("Safari on iPhone")`)
	if other.Length() != 1 || !strings.Contains(other.Text(), "127.0.0.1") || !strings.Contains(other.Text(), "25 Nov 2026, 09:02 UTC") {
		t.Fatalf("the phone's row: %q", other.Text())
	}
	sessions, _ := e.store.ListUserSessions(context.Background(), u.ID)
	for _, s := range sessions {
		if strings.Contains(acc.body, s.ID) {
			t.Fatal("a session id (the cookie's secret) is in the page")
		}
	}

	end, _ := other.Find("form").Attr("action")
	p := laptop.post(end, url.Values{"_csrf": {laptop.csrf("/account")}})
	if p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("end the phone's session: %d %q", p.status(), p.location())
	}
	if got := laptop.get("/account"); !strings.Contains(got.find("[data-testid=flash]").Text(), "Signed out Safari on iPhone") || got.find("[data-testid=session-row]").Length() != 2 {
		t.Fatalf("after ending: flash %q, %d rows", got.find("[data-testid=flash]").Text(), got.find("[data-testid=session-row]").Length())
	}
	if p := phone.get("/account"); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("the ended phone: %d %q", p.status(), p.location())
	}
	if a := auditEntries(t, e, "session.end"); len(a) != 1 || !strings.Contains(a[0].Details, "Safari on iPhone") {
		t.Fatalf("audit: %+v", a)
	}
	// The same form again, and another user's handle, change nothing.
	if p := laptop.post(end, url.Values{"_csrf": {laptop.csrf("/account")}}); p.status() != http.StatusSeeOther {
		t.Fatalf("ending an ended session: %d", p.status())
	}
	e.addUser("bob@example.com", paylink.RoleFinance)
	bob := e.browser()
	bob.login("bob@example.com")
	tabletEnd, _ := laptop.get("/account").find(`[data-testid=session-row][data-current="false"] form`).Attr("action")
	bob.post(tabletEnd, url.Values{"_csrf": {bob.csrf("/account")}})
	if p := tablet.get("/account"); p.status() != http.StatusOK {
		t.Fatalf("another user ended ada's tablet: %d", p.status())
	}

	t.Run("sign out everywhere else", func(t *testing.T) {
		p := laptop.submit("/account", "/account/sessions/end-others", url.Values{})
		if p.status() != http.StatusSeeOther {
			t.Fatalf("%d", p.status())
		}
		if p := tablet.get("/account"); p.status() != http.StatusSeeOther {
			t.Fatalf("tablet still signed in: %d", p.status())
		}
		if p := laptop.get("/account"); p.status() != http.StatusOK || p.find("[data-testid=session-row]").Length() != 1 {
			t.Fatalf("laptop: %d", p.status())
		}
		if len(auditEntries(t, e, "session.end_others")) != 1 {
			t.Error("not audited")
		}
	})
}

// Every POST added here refuses a request without a token (400) and a
// cross-site one (403), changing nothing.
func TestTOTPAndSessionPOSTsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	e.addUser("ada@example.com", paylink.RoleFinance)
	admin := e.browser()
	admin.login("admin@example.com")
	f := e.browser()
	f.login("fin@example.com")
	f.enrolTOTP()
	half := e.browser()
	setupAda := e.browser()
	setupAda.login("ada@example.com")
	setupAda.enrolTOTP()
	half.passwordStep("ada@example.com")
	e.clock.Advance(30 * time.Second)

	finSessions, _ := e.store.ListUserSessions(context.Background(), fin.ID)
	cases := []struct {
		name string
		b    *browser
		path string
		form url.Values
	}{
		{"code step", half, "/login/2fa", url.Values{"code": {"123456"}}},
		{"start enrolment", f, "/account/2fa/start", url.Values{}},
		{"confirm", f, "/account/2fa/confirm", url.Values{"code": {"123456"}}},
		{"disable", f, "/account/2fa/disable", url.Values{"twofa_password": {testPassword}}},
		{"recovery codes", f, "/account/2fa/recovery-codes", url.Values{"recovery_password": {testPassword}}},
		{"end a session", f, "/account/sessions/" + strings.Repeat("0", 32) + "/end", url.Values{}},
		{"end other sessions", f, "/account/sessions/end-others", url.Values{}},
		{"reset 2FA", admin, "/admin/users/" + strconvI(fin.ID) + "/reset-2fa", url.Values{}},
		{"require 2FA", admin, "/admin/users/require-2fa", url.Values{"require": {"1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p := tc.b.post(tc.path, tc.form); p.status() != http.StatusBadRequest {
				t.Errorf("without a token: %d, want 400", p.status())
			}
			if p := tc.b.post(tc.path, tc.form, "Sec-Fetch-Site", "cross-site"); p.status() != http.StatusForbidden {
				t.Errorf("cross-site: %d, want 403", p.status())
			}
			if p := tc.b.post(tc.path, tc.form, "X-CSRF-Token", "forged-token-forged-token-forged"); p.status() != http.StatusForbidden {
				t.Errorf("forged token: %d, want 403", p.status())
			}
		})
	}
	if tf, err := e.store.TOTPByUser(context.Background(), fin.ID); err != nil || !tf.Enabled || tf.RecoveryLeft != 10 {
		t.Errorf("fin's 2FA changed: %+v %v", tf, err)
	}
	if after, _ := e.store.ListUserSessions(context.Background(), fin.ID); len(after) != len(finSessions) {
		t.Errorf("fin's sessions: %d, had %d", len(after), len(finSessions))
	}
	if on, _ := e.store.TwoFactorRequired(context.Background()); on {
		t.Error("the setting changed")
	}
	if p := half.get("/login/2fa"); p.status() != http.StatusOK {
		t.Errorf("the pending sign-in was spent: %d", p.status())
	}
}
