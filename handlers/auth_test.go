package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
)

func TestSignInSuccessSetsHardenedCookie(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	p := b.submit("/login", "/login", url.Values{"email": {"ADA@example.com"}, "password": {testPassword}})
	if p.status() != http.StatusSeeOther || p.location() != "/" {
		t.Fatalf("got %d %q, want 303 to /", p.status(), p.location())
	}
	var session *http.Cookie
	for _, c := range p.resp.Cookies() {
		if c.Name == "session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie set")
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Domain != "" {
		t.Errorf("cookie attributes: HttpOnly=%v SameSite=%v Path=%q Domain=%q", session.HttpOnly, session.SameSite, session.Path, session.Domain)
	}
	if session.MaxAge <= 0 || session.MaxAge > 8*3600 {
		t.Errorf("MaxAge = %d, want 1..28800", session.MaxAge)
	}
	home := b.get("/")
	if home.status() != http.StatusOK || home.find("[data-testid=current-user]").Text() != "Test finance" {
		t.Fatalf("dashboard: status %d, user %q", home.status(), home.find("[data-testid=current-user]").Text())
	}
	if cc := home.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("signed-in page Cache-Control = %q, want no-store", cc)
	}
}

func TestSignInUnderHTTPSUsesHostPrefixAndSecure(t *testing.T) {
	e := newEnv(t, func(c *app.Config, _ *app.Parts) { c.BaseURL = &url.URL{Scheme: "https", Host: "pay.example"} })
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	// The test server is plain http, so the jar will not send Secure cookies
	// back; read the Set-Cookie of the login response itself.
	p := b.get("/login")
	tok, _ := p.find(`input[name="_csrf"]`).Attr("value")
	var csrfCookie *http.Cookie
	for _, c := range p.resp.Cookies() {
		if c.Name == "__Host-csrf" {
			csrfCookie = c
		}
	}
	if csrfCookie == nil || !csrfCookie.Secure {
		t.Fatalf("want a Secure __Host-csrf cookie, got %+v", p.resp.Cookies())
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "_csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: csrfCookie.Value})
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login status %d", resp.StatusCode)
	}
	found := false
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-session" {
			found = true
			if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
				t.Errorf("__Host-session attributes wrong: %+v", c)
			}
		}
	}
	if !found {
		t.Error("no __Host-session cookie")
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=63072000") {
		t.Errorf("HSTS = %q", hsts)
	}
}

// normalise strips what legitimately differs between two responses.
var volatile = regexp.MustCompile(`(value|content|nonce)="[A-Za-z0-9+/_=-]{16,}"`)

func TestSignInFailuresAreIndistinguishable(t *testing.T) {
	e := newEnv(t)
	e.addUser("known@example.com", paylink.RoleFinance)
	off := e.addUser("off@example.com", paylink.RoleFinance)
	if err := e.store.SetUserDisabled(context.Background(), off.ID, true, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]url.Values{
		"unknown email":    {"email": {"nobody@example.com"}, "password": {"wrong password 1"}},
		"wrong password":   {"email": {"known@example.com"}, "password": {"wrong password 1"}},
		"disabled account": {"email": {"off@example.com"}, "password": {testPassword}},
	}
	var bodies []string
	for name, form := range cases {
		t.Run(name, func(t *testing.T) {
			form.Set("email", form.Get("email"))
			p := e.browser().submit("/login", "/login", form)
			if p.status() != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", p.status())
			}
			msg := p.find("[data-testid=form-error]").Text()
			if !strings.Contains(msg, "Email or password is incorrect") {
				t.Fatalf("message %q", msg)
			}
			body := strings.ReplaceAll(volatile.ReplaceAllString(p.body, ""), form.Get("email"), "EMAIL")
			bodies = append(bodies, body)
		})
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("failure pages differ:\n%s\n---\n%s", bodies[0], bodies[i])
		}
	}
	// Every failure is in the audit log.
	entries, _ := e.store.ListAudit(context.Background(), 100)
	failed := 0
	for _, a := range entries {
		if a.Action == "login" && a.Outcome == "failed" {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("audited %d failed logins, want 3", failed)
	}
}

func TestSignInThrottlesAfterFiveFailures(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
	for i := 0; i < 5; i++ {
		if p := b.submit("/login", "/login", bad); p.status() != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d", i+1, p.status())
		}
	}
	// The fifth failure locked the account for a second: even the right
	// password is refused, with the same message.
	good := url.Values{"email": {"ada@example.com"}, "password": {testPassword}}
	if p := b.submit("/login", "/login", good); p.status() != http.StatusUnauthorized {
		t.Fatalf("locked account signed in: status %d", p.status())
	}
	e.clock.Advance(1100 * time.Millisecond)
	// Another failure doubles the delay.
	b.submit("/login", "/login", bad)
	e.clock.Advance(1500 * time.Millisecond)
	if p := b.submit("/login", "/login", good); p.status() != http.StatusUnauthorized {
		t.Fatalf("want still locked after 1.5s of a 2s lock, got %d", p.status())
	}
	e.clock.Advance(time.Second)
	if p := b.submit("/login", "/login", good); p.status() != http.StatusSeeOther {
		t.Fatalf("after waiting, the owner must get in: status %d", p.status())
	}
	entries, _ := e.store.ListAudit(context.Background(), 100)
	var locked, throttled bool
	for _, a := range entries {
		locked = locked || a.Outcome == "locked"
		throttled = throttled || a.Outcome == "throttled"
	}
	if !locked || !throttled {
		t.Errorf("audit: locked=%v throttled=%v, want both", locked, throttled)
	}
}

func TestLockDelayGrowsButNeverBricks(t *testing.T) {
	// At most this many attempts fit in an hour of continuous guessing.
	var elapsed time.Duration
	tries := 0
	for f := 1; elapsed < time.Hour; f++ {
		tries++
		elapsed += handlers.LockFor(f)
		if handlers.LockFor(f) > 15*time.Minute {
			t.Fatalf("lock after %d failures is %v, over the 15 min cap", f, handlers.LockFor(f))
		}
	}
	if tries >= 100 {
		t.Errorf("%d tries fit in an hour, want fewer than 100", tries)
	}
}

func TestPerIPLimitIgnoresSpoofedForwardedFor(t *testing.T) {
	e := newEnv(t, func(c *app.Config, _ *app.Parts) { c.LoginRatePerMinute = 5 })
	b := e.browser()
	tok := b.csrf("/login")
	var last int
	for i := 0; i < 8; i++ {
		p := b.post("/login", url.Values{"email": {"x@example.com"}, "password": {"wrong password 1"}, "_csrf": {tok}},
			"X-Forwarded-For", "203.0.113."+itoa(i), "X-Real-IP", "198.51.100."+itoa(i))
		last = p.status()
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("8 attempts from one IP with rotating X-Forwarded-For: last status %d, want 429", last)
	}
}

func TestCopiedCookieRefusedAfterSignOut(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("ada@example.com")
	stolen := *b.cookie("session")
	tok := b.csrf("/")
	p := b.post("/logout", url.Values{"_csrf": {tok}})
	if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("logout: %d %q", p.status(), p.location())
	}
	if csd := p.resp.Header.Get("Clear-Site-Data"); !strings.Contains(csd, `"cookies"`) {
		t.Errorf("Clear-Site-Data = %q", csd)
	}
	thief := e.browser()
	thief.setCookie(&stolen)
	if p := thief.get("/account"); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("replayed cookie after logout: %d %q, want a login redirect", p.status(), p.location())
	}
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)

	t.Run("idle 31 minutes", func(t *testing.T) {
		b := e.browser()
		b.login("ada@example.com")
		e.clock.Advance(31 * time.Minute)
		p := b.get("/account")
		if p.status() != http.StatusSeeOther || !strings.Contains(p.location(), "expired=1") {
			t.Fatalf("got %d %q, want login redirect marked expired", p.status(), p.location())
		}
	})
	t.Run("active past 8 hours", func(t *testing.T) {
		b := e.browser()
		b.login("ada@example.com")
		for i := 0; i < 24; i++ { // every 20 minutes for 8 hours
			e.clock.Advance(20 * time.Minute)
			if p := b.get("/account"); p.status() != http.StatusOK {
				t.Fatalf("after %v of activity: status %d", time.Duration(i+1)*20*time.Minute, p.status())
			}
		}
		e.clock.Advance(time.Minute + time.Second)
		if p := b.get("/account"); p.status() != http.StatusSeeOther {
			t.Fatalf("8h01m after sign-in: status %d, want a login redirect", p.status())
		}
	})
}

func TestNewSessionIDAtSignIn(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("ada@example.com")
	first := b.cookie("session").Value
	// Signing in again from the same browser (with the page's token).
	if p := b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "_csrf": {b.csrf("/")}}); p.status() != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", p.status())
	}
	if second := b.cookie("session").Value; second == first {
		t.Fatal("session id not renewed at sign-in")
	}
	old := e.browser()
	old.setCookie(&http.Cookie{Name: "session", Value: first})
	if p := old.get("/"); p.status() != http.StatusSeeOther {
		t.Fatalf("pre-login session still authenticated: %d", p.status())
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	laptop, phone := e.browser(), e.browser()
	laptop.login("ada@example.com")
	phone.login("ada@example.com")

	bad := laptop.submit("/account", "/account/password", url.Values{"current": {"wrong wrong wrong"}, "password": {"a brand new passphrase"}, "password2": {"a brand new passphrase"}})
	if bad.status() != http.StatusUnprocessableEntity || bad.find(`[data-field="current"]`).Length() != 1 {
		t.Fatalf("wrong current password: status %d", bad.status())
	}
	p := laptop.submit("/account", "/account/password", url.Values{"current": {testPassword}, "password": {"a brand new passphrase"}, "password2": {"a brand new passphrase"}})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("change password: %d", p.status())
	}
	if got := laptop.get("/"); got.status() != http.StatusOK || !strings.Contains(got.find("[data-testid=flash]").Text(), "Password changed") {
		t.Fatalf("the changing session must stay signed in with a message: %d", got.status())
	}
	if got := phone.get("/"); got.status() != http.StatusSeeOther {
		t.Fatalf("other session survived a password change: %d", got.status())
	}
}

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		pw   string
		okay bool
	}{
		{"short", false},
		{strings.Repeat("a", 11), false},
		{"password1234", false},
		{"twelve chars", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("y", 200), true},
		{strings.Repeat("z", 1024), true},
		{strings.Repeat("z", 1025), false},
	}
	for _, c := range cases {
		if got := auth.CheckPasswordPolicy(c.pw) == ""; got != c.okay {
			t.Errorf("policy(%d bytes %.12q) ok=%v, want %v", len(c.pw), c.pw, got, c.okay)
		}
	}
}

func TestHugePasswordRefusedBeforeHashing(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	tok := b.csrf("/login")
	p := b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {strings.Repeat("p", 2000)}, "_csrf": {tok}})
	if p.status() != http.StatusBadRequest {
		t.Errorf("2000-byte password: status %d, want 400", p.status())
	}
	p = b.post("/login", url.Values{"email": {"ada@example.com"}, "password": {strings.Repeat("p", 1<<20)}, "_csrf": {tok}})
	if p.status() != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MB password: status %d, want 413", p.status())
	}
	u, _ := e.store.UserByEmail(context.Background(), "ada@example.com")
	if u.FailedLogins != 0 {
		t.Errorf("oversized passwords counted as verified attempts: %d", u.FailedLogins)
	}
}

func TestRehashOnSignInWhenParametersChange(t *testing.T) {
	e := newEnv(t)
	old := argon2id.Params{Memory: 512, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	hash, _ := argon2id.CreateHash(testPassword, &old)
	u, err := e.store.CreateUser(context.Background(), db.NewUser{Email: "ada@example.com", Name: "Ada", Role: paylink.RoleFinance, PasswordHash: hash}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.browser().login("ada@example.com")
	after, _ := e.store.UserByID(context.Background(), u.ID)
	p, _, _, err := argon2id.DecodeHash(after.PasswordHash)
	if err != nil || p.Memory != testParams.Memory {
		t.Fatalf("hash not rewritten with current parameters: %v m=%d", err, p.Memory)
	}
}

func TestSetupLinkIsSingleUse(t *testing.T) {
	e := newEnv(t)
	token, err := handlers.CreateSetupToken(context.Background(), e.store, e.clock.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	form := url.Values{"token": {token}, "name": {"Grace"}, "email": {"grace@example.com"}, "password": {"first admin passphrase"}, "password2": {"first admin passphrase"}}

	// A mistake keeps what was typed and shows the message by the field.
	bad := url.Values{"token": {token}, "name": {"Grace"}, "email": {"not-an-email"}, "password": {"first admin passphrase"}, "password2": {"first admin passphrase"}}
	p := b.submit("/setup?token="+token, "/setup", bad)
	if p.status() != http.StatusUnprocessableEntity || p.find(`[data-field="email"]`).Length() != 1 {
		t.Fatalf("invalid setup: %d", p.status())
	}
	if v, _ := p.find("input#name").Attr("value"); v != "Grace" {
		t.Errorf("name not kept: %q", v)
	}

	p = b.submit("/setup?token="+token, "/setup", form)
	if p.status() != http.StatusSeeOther {
		t.Fatalf("setup: %d", p.status())
	}
	if home := b.get("/"); home.status() != http.StatusOK {
		t.Fatalf("first admin not signed in: %d", home.status())
	}
	u, err := e.store.UserByEmail(context.Background(), "grace@example.com")
	if err != nil || u.Role != paylink.RoleAdmin {
		t.Fatalf("first admin: %+v %v", u, err)
	}
	// The same link, again, from another browser.
	other := e.browser()
	if p := other.get("/setup?token=" + token); p.status() != http.StatusNotFound || p.find("[data-testid=setup-invalid]").Length() != 1 {
		t.Fatalf("reused setup link: %d", p.status())
	}
	form.Set("email", "mallory@example.com")
	if p := other.submit("/login", "/setup", form); p.status() != http.StatusNotFound {
		t.Fatalf("reused setup POST: %d", p.status())
	}
	if us, _ := e.store.ListUsers(context.Background()); len(us) != 1 {
		t.Fatalf("%d accounts, want 1", len(us))
	}
	// And once accounts exist, no new token can be made.
	if _, err := handlers.CreateSetupToken(context.Background(), e.store, e.clock.Now(), time.Hour); err == nil {
		t.Fatal("setup token created while accounts exist")
	}
}

func TestNoDefaultAccounts(t *testing.T) {
	e := newEnv(t)
	for _, cred := range [][2]string{{"admin", "admin"}, {"admin@example.com", "admin"}, {"admin@localhost", "password"}} {
		p := e.browser().submit("/login", "/login", url.Values{"email": {cred[0]}, "password": {cred[1]}})
		if p.status() != http.StatusUnauthorized {
			t.Errorf("%s/%s: status %d", cred[0], cred[1], p.status())
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
