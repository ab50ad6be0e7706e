package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

func TestAdminCreatesUserWithOneTimePassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin@example.com", paylink.RoleAdmin)
	admin := e.browser()
	admin.login("admin@example.com")

	// A right-to-left override or an invisible character is refused.
	for _, bad := range []url.Values{
		{"name": {"Mallory\u202eexe.txt"}, "email": {"m@example.com"}, "role": {"finance"}},
		{"name": {"Mallory"}, "email": {"\ufeffm@example.com"}, "role": {"finance"}},
	} {
		p := admin.submit("/admin/users", "/admin/users", bad)
		field := "name"
		if bad.Get("name") == "Mallory" {
			field = "email"
		}
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.find(`[data-field="`+field+`"]`).Text(), "invisible") {
			t.Fatalf("hidden characters in the %s: %d %q", field, p.status(), p.find(`[data-field="`+field+`"]`).Text())
		}
	}

	// Invalid input keeps what was typed, message beside the field.
	p := admin.submit("/admin/users", "/admin/users", url.Values{"name": {"Fin Ance"}, "email": {"fin@"}, "role": {"finance"}})
	if p.status() != http.StatusUnprocessableEntity || p.find(`[data-field="email"]`).Length() != 1 {
		t.Fatalf("invalid create: %d", p.status())
	}
	if v, _ := p.find("input#name").Attr("value"); v != "Fin Ance" {
		t.Errorf("name not kept: %q", v)
	}
	if v, _ := p.find(`select#role option[selected]`).Attr("value"); v != "finance" {
		t.Errorf("role not kept: %q", v)
	}

	p = admin.submit("/admin/users", "/admin/users", url.Values{"name": {"Fin Ance"}, "email": {"fin@example.com"}, "role": {"finance"}})
	if p.status() != http.StatusCreated {
		t.Fatalf("create: %d", p.status())
	}
	secret := strings.TrimSpace(p.find("[data-testid=secret]").Text())
	if len(secret) < 26 {
		t.Fatalf("one-time password %q", secret)
	}
	if again := admin.get("/admin/users"); strings.Contains(again.body, secret) {
		t.Fatal("one-time password shown twice")
	}
	dup := admin.submit("/admin/users", "/admin/users", url.Values{"name": {"X"}, "email": {"FIN@example.com"}, "role": {"viewer"}})
	if dup.status() != http.StatusUnprocessableEntity || !strings.Contains(dup.find(`[data-field="email"]`).Text(), "already exists") {
		t.Fatalf("duplicate email (other case): %d", dup.status())
	}

	// The new user signs in with it and must choose their own password.
	fin := e.browser()
	p = fin.submit("/login", "/login", url.Values{"email": {"fin@example.com"}, "password": {secret}})
	if p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("first sign-in: %d %q, want 303 to /account", p.status(), p.location())
	}
	if p := fin.get("/"); p.status() != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("before changing the password every page leads to /account: %d %q", p.status(), p.location())
	}
	p = fin.submit("/account", "/account/password", url.Values{"current": {secret}, "password": {"fin's own passphrase"}, "password2": {"fin's own passphrase"}})
	if p.status() != http.StatusSeeOther {
		t.Fatalf("change: %d", p.status())
	}
	if p := fin.get("/"); p.status() != http.StatusOK {
		t.Fatalf("after the change: %d", p.status())
	}
}

func TestAdminDisableRoleResetAndSessions(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	a := e.browser()
	a.login("admin@example.com")
	victim := e.browser()
	victim.login("fin@example.com")
	path := func(action string) string { return "/admin/users/" + strconvI(fin.ID) + "/" + action }

	t.Run("role change ends sessions", func(t *testing.T) {
		p := a.submit("/admin/users", path("role"), url.Values{"role": {"viewer"}})
		if p.status() != http.StatusSeeOther {
			t.Fatalf("%d", p.status())
		}
		if u, _ := e.store.UserByID(context.Background(), fin.ID); u.Role != paylink.RoleViewer {
			t.Fatalf("role %q", u.Role)
		}
		if p := victim.get("/"); p.status() != http.StatusSeeOther {
			t.Fatalf("session survived a role change: %d", p.status())
		}
	})
	t.Run("disable refuses the next request and sign-in", func(t *testing.T) {
		victim.login("fin@example.com")
		if p := a.submit("/admin/users", path("disable"), url.Values{}); p.status() != http.StatusSeeOther {
			t.Fatalf("%d", p.status())
		}
		if p := victim.get("/"); p.status() != http.StatusSeeOther {
			t.Fatalf("disabled user still served: %d", p.status())
		}
		p := victim.submit("/login", "/login", url.Values{"email": {"fin@example.com"}, "password": {testPassword}})
		if p.status() != http.StatusUnauthorized {
			t.Fatalf("disabled sign-in: %d", p.status())
		}
		a.submit("/admin/users", path("enable"), url.Values{})
		victim.login("fin@example.com")
	})
	t.Run("reset password shows it once and ends sessions", func(t *testing.T) {
		p := a.submit("/admin/users", path("reset-password"), url.Values{})
		if p.status() != http.StatusOK || p.find("[data-testid=secret]").Text() == "" {
			t.Fatalf("reset: %d", p.status())
		}
		if p := victim.get("/"); p.status() != http.StatusSeeOther {
			t.Fatalf("session survived a reset: %d", p.status())
		}
	})
	t.Run("admin cannot demote or disable themselves", func(t *testing.T) {
		self := "/admin/users/" + strconvI(admin.ID)
		if p := a.submit("/admin/users", self+"/role", url.Values{"role": {"viewer"}}); p.status() != http.StatusForbidden {
			t.Fatalf("self demotion: %d", p.status())
		}
		if p := a.submit("/admin/users", self+"/disable", url.Values{}); p.status() != http.StatusForbidden {
			t.Fatalf("self disable: %d", p.status())
		}
	})
	t.Run("unknown user is 404", func(t *testing.T) {
		if p := a.submit("/admin/users", "/admin/users/99999/disable", url.Values{}); p.status() != http.StatusNotFound {
			t.Fatalf("%d", p.status())
		}
	})
	entries, _ := e.store.ListAudit(context.Background(), 200)
	seen := map[string]bool{}
	for _, en := range entries {
		seen[en.Action] = true
	}
	for _, want := range []string{"user.role_change", "user.disable", "user.enable", "user.password_reset", "login"} {
		if !seen[want] {
			t.Errorf("audit has no %s entry", want)
		}
	}
}

func strconvI(v int64) string { return itoa(int(v)) }
