package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/paylink"
)

// BenchmarkHash is one argon2id hash with the production parameters
// (m=19 MiB, t=2, p=1): the cost of every sign-in, for tuning them.
func BenchmarkHash(b *testing.B) {
	h, err := auth.NewHasher(auth.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin measures successful sign-ins per second through the real
// router served on loopback (POST /login with the CSRF cookie and form
// token from GET /login, a user whose stored hash has the production
// parameters, a real SQLite file: user lookup, argon2id verify, the new
// session row and its audit entry, the 303), beside the baseline of the
// same run: one bare argon2id verify of the same hash. Each mode runs both
// sides the same way: serial (one at a time) and parallel (GOMAXPROCS
// senders, as far as the hasher's NumCPU slots let them). The per-IP login
// limit is raised through Options for this server only: every request
// comes from 127.0.0.1.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	prod, err := auth.NewHasher(auth.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	env := newEnv(b, func(c *app.Config, _ *app.Parts) {
		c.HashParams = auth.DefaultHashParams
		c.LoginRatePerMinute = 1 << 30
	})
	hash, err := prod.Hash(ctx, testPassword)
	if err != nil {
		b.Fatal(err)
	}
	const email = "login-bench@example.com"
	if _, err := env.store.CreateUser(ctx, db.NewUser{Email: email, Name: "Login Bench", Role: paylink.RoleFinance, PasswordHash: hash},
		db.AuditEntry{Action: "bench"}); err != nil {
		b.Fatal(err)
	}

	// One signed-out browser's login form: its CSRF cookie and token are
	// reused for every attempt (never the session cookies a sign-in sets),
	// so each POST is a fresh sign-in, not a re-login over a session.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	br := env.browser()
	token := br.csrf("/login")
	csrfCookie := br.cookie("csrf")
	if csrfCookie == nil {
		b.Fatal("GET /login set no csrf cookie")
	}
	body := url.Values{"email": {email}, "password": {testPassword}, "_csrf": {token}}.Encode()
	home := env.echo.Reverse(handlers.RouteHome)
	login := func() error {
		req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(csrfCookie)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != home {
			return fmt.Errorf("login: status %d, Location %q; want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), home)
		}
		return nil
	}
	verify := func() error {
		if ok, _, err := argon2id.CheckHash(testPassword, hash); err != nil || !ok {
			return fmt.Errorf("verify: ok=%v err=%v", ok, err)
		}
		return nil
	}
	if err := login(); err != nil { // the path works before anything is timed
		b.Fatal(err)
	}

	serial := func(op func() error, unit string) func(*testing.B) {
		return func(b *testing.B) {
			n := 0
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
		}
	}
	parallel := func(op func() error, unit string) func(*testing.B) {
		return func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
		}
	}
	b.Run("serial/handler", serial(login, "logins/s"))
	b.Run("serial/baseline", serial(verify, "verifies/s"))
	b.Run("parallel/handler", parallel(login, "logins/s"))
	b.Run("parallel/baseline", parallel(verify, "verifies/s"))
}
