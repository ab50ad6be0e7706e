package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/paylink"
)

func TestCSRFRefusals(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	e.addUser("bob@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("admin@example.com")
	good := b.csrf("/admin/users")
	newUser := func(extra ...string) url.Values {
		v := url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "role": {"admin"}}
		if len(extra) == 1 {
			v.Set("_csrf", extra[0])
		}
		return v
	}
	// A token one character off (never the same: a random token may start
	// with the letter put in its place).
	wrong := "x" + good[1:]
	if wrong == good {
		wrong = "y" + good[1:]
	}
	other := e.browser()
	other.login("bob@example.com")
	bobToken := other.csrf("/")

	cases := []struct {
		name    string
		form    url.Values
		headers []string
		want    int
	}{
		{"no token, no fetch metadata", newUser(), nil, http.StatusBadRequest},
		{"wrong token", newUser(wrong), nil, http.StatusForbidden},
		{"cross-site with a valid token", newUser(good), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		// A browser that says the request came from elsewhere is refused
		// before any token is read (403, not the missing token's 400).
		{"same-site without token", newUser(), []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"evil origin without token", newUser(), []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"evil origin with a valid token", newUser(good), []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"null origin with a valid token", newUser(good), []string{"Origin", "null"}, http.StatusForbidden},
		{"same-site with a valid token", newUser(good), []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"another user's token", newUser(bobToken), nil, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/admin/users", c.form, c.headers...)
			if p.status() != c.want {
				t.Fatalf("status %d, want %d", p.status(), c.want)
			}
			if _, err := e.store.UserByEmail(context.Background(), "eve@example.com"); err == nil {
				t.Fatal("the refused request created the user")
			}
		})
	}
	t.Run("our own origin with a valid token passes", func(t *testing.T) {
		p := b.post("/admin/users", url.Values{"name": {"Own"}, "email": {"own@example.com"}, "role": {"viewer"}, "_csrf": {good}},
			"Origin", e.srv.URL)
		if p.status() != http.StatusCreated {
			t.Fatalf("status %d, want 201", p.status())
		}
	})
	t.Run("same-origin fetch metadata passes without token", func(t *testing.T) {
		p := b.post("/admin/users", newUser(), "Sec-Fetch-Site", "same-origin")
		if p.status() != http.StatusCreated {
			t.Fatalf("status %d, want 201", p.status())
		}
	})
	t.Run("cross-site login refused", func(t *testing.T) {
		anon := e.browser()
		p := anon.post("/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}}, "Sec-Fetch-Site", "cross-site")
		if p.status() != http.StatusForbidden {
			t.Fatalf("status %d, want 403", p.status())
		}
	})
	_ = admin
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	nonceRE := regexp.MustCompile(`'nonce-([A-Za-z0-9+/=]+)'`)
	var nonces []string
	for _, path := range []string{"/login", "/login", "/nope", "/healthz", "/static/css/app.css"} {
		p := b.get(path)
		h := p.resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "'strict-dynamic'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if m := nonceRE.FindStringSubmatch(csp); m == nil || len(m[1]) < 22 {
			t.Errorf("%s: nonce missing or short in %q", path, csp)
		} else {
			nonces = append(nonces, m[1])
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
		if v := h.Get("X-XSS-Protection"); v != "" && v != "0" {
			t.Errorf("%s: X-XSS-Protection %q", path, v)
		}
		if h.Get("Server") != "" {
			t.Errorf("%s: version banner %q", path, h.Get("Server"))
		}
	}
	if len(nonces) >= 2 && nonces[0] == nonces[1] {
		t.Error("two loads got the same nonce")
	}
	p := b.get("/login")
	if m := nonceRE.FindStringSubmatch(p.resp.Header.Get("Content-Security-Policy")); m != nil {
		p.find("script").Each(func(_ int, s *goquery.Selection) {
			if n, _ := s.Attr("nonce"); n != m[1] {
				t.Errorf("script without the response nonce: %q", n)
			}
		})
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(p.body) {
		t.Error("inline event handler in page")
	}
}

func TestRolesAreEnforcedByRouteGroup(t *testing.T) {
	e := newEnv(t)
	e.addUser("viewer@example.com", paylink.RoleViewer)
	fin := e.addUser("fin@example.com", paylink.RoleFinance)
	for _, email := range []string{"viewer@example.com", "fin@example.com"} {
		t.Run(email, func(t *testing.T) {
			b := e.browser()
			b.login(email)
			tok := b.csrf("/")
			get := b.get("/admin/users")
			if get.status() != http.StatusForbidden || get.find("[data-testid=error-page]").Length() != 1 {
				t.Fatalf("GET /admin/users: %d", get.status())
			}
			for _, path := range []string{"/admin/users", "/admin/users/1/role", "/admin/users/1/disable", "/admin/users/1/reset-password"} {
				if p := b.post(path, url.Values{"_csrf": {tok}, "role": {"admin"}, "name": {"x"}, "email": {"x@example.com"}}); p.status() != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", path, p.status())
				}
			}
		})
	}
	entries, _ := e.store.ListAudit(context.Background(), 100)
	denied := 0
	for _, a := range entries {
		if a.Action == "authz.denied" && a.ActorID != 0 {
			denied++
		}
	}
	if denied != 10 {
		t.Errorf("%d refusals audited, want 10", denied)
	}
	if u, _ := e.store.UserByID(context.Background(), fin.ID); u.Role != paylink.RoleFinance {
		t.Error("role changed by a refused request")
	}
}

func TestTamperedOrForeignCookieMeansSignedOut(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("ada@example.com")
	good := b.cookie("session").Value
	flip := []byte(good)
	flip[len(flip)/2] ^= 0x01
	cases := map[string]string{
		"one byte flipped": string(flip),
		"garbage":          "not-a-cookie",
		"empty":            "",
		"truncated":        good[:len(good)/2],
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			x := e.browser()
			x.setCookie(&http.Cookie{Name: "session", Value: v})
			p := x.get("/account")
			if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
				t.Fatalf("got %d %q, want a login redirect", p.status(), p.location())
			}
		})
	}
	t.Run("cookie from a rotated-out key", func(t *testing.T) {
		other := newEnv(t, func(c *app.Config, _ *app.Parts) {
			k := make([]byte, 32)
			k[0] = 9
			c.SessionKeys = [][]byte{k, k}
		})
		x := other.browser()
		x.setCookie(&http.Cookie{Name: "session", Value: good})
		if p := x.get("/"); p.status() != http.StatusSeeOther {
			t.Fatalf("status %d", p.status())
		}
	})
}

func TestErrorPagesAreGenericWithRequestID(t *testing.T) {
	e := newEnv(t)
	e.echo.GET("/boom", func(echo.Context) error { panic("secret /etc/paylinks SELECT * FROM users") })
	e.echo.GET("/dberr", func(echo.Context) error { return context.DeadlineExceeded })
	b := e.browser()

	p := b.get("/boom")
	if p.status() != http.StatusInternalServerError {
		t.Fatalf("panic: %d", p.status())
	}
	if strings.Contains(p.body, "secret") || strings.Contains(p.body, "SELECT") || strings.Contains(p.body, "goroutine") {
		t.Fatal("internal text leaked into the 500 page")
	}
	id := p.find("[data-testid=request-id]").Text()
	if id == "" || id != p.resp.Header.Get("X-Request-Id") {
		t.Errorf("request id on page %q vs header %q", id, p.resp.Header.Get("X-Request-Id"))
	}
	if p := b.get("/no/such/page"); p.status() != http.StatusNotFound || p.find("h1").Text() != "Not found" {
		t.Errorf("404: %d %q", p.status(), p.find("h1").Text())
	}
	if p := b.get("/debug/pprof"); p.status() != http.StatusNotFound {
		t.Errorf("/debug/pprof: %d", p.status())
	}
	req, _ := http.NewRequest(http.MethodTrace, e.srv.URL+"/", nil)
	if p := b.do(req); p.status() != http.StatusMethodNotAllowed {
		t.Errorf("TRACE /: %d", p.status())
	}
	if p := b.get("/dberr"); p.status() != http.StatusServiceUnavailable {
		t.Errorf("timeout: %d", p.status())
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	if p := e.browser().get("/healthz"); p.status() != http.StatusOK {
		t.Fatalf("healthy: %d", p.status())
	}
	e.store.Close()
	if p := e.browser().get("/healthz"); p.status() != http.StatusServiceUnavailable {
		t.Fatalf("closed database: %d, want 503", p.status())
	}
}

func TestStaticAssetsServedFromLayoutURLs(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get("/login")
	css, _ := p.find(`link[rel="stylesheet"]`).Attr("href")
	js, _ := p.find(`script[src]`).Attr("src")
	for _, u := range []string{css, js} {
		a := b.get(u)
		if a.status() != http.StatusOK || len(a.body) < 100 {
			t.Fatalf("GET %s: %d (%d bytes)", u, a.status(), len(a.body))
		}
		if cc := a.resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s Cache-Control %q", u, cc)
		}
		if a.resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s sets a cookie", u)
		}
	}
	if ct := b.get(css).resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("css content type %q", ct)
	}
}
