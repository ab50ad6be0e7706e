package handlers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/alexedwards/argon2id"
	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/handlers"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

var _ handlers.Store = (*db.Store)(nil)

// testParams keep hashing cheap in tests; one test uses the real ones.
var testParams = argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const testPassword = "correct horse battery staple"

type env struct {
	t       testing.TB
	store   *db.Store
	hasher  *auth.Hasher
	clock   *testkit.Clock
	srv     *httptest.Server
	echo    *echo.Echo
	sandbox *sandbox.Server
	client  *stablemint.Client
	minter  *links.Minter
	app     *app.App
}

// Keys are slow to make under -race: one set per test binary.
var (
	keysOnce          sync.Once
	partnerKey, sbKey *rsa.PrivateKey
)

func testKeys(testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if partnerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if sbKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return partnerKey, sbKey
}

// newProvider starts the in-process StableMint sandbox on loopback and a
// real client signed with the partner key it trusts.
func newProvider(t *testing.T) (*sandbox.Server, *stablemint.Client) { return newProviderTB(t) }

func newProviderTB(t testing.TB) (*sandbox.Server, *stablemint.Client) {
	t.Helper()
	partner, sbk := testKeys(t)
	sb, err := sandbox.New(sandbox.Config{
		Addr: "127.0.0.1:0", APIKey: "test", APISecret: "secret", PartnerPublicKey: &partner.PublicKey,
		PrivateKey: sbk, TimeScale: 0.0001, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	u, _ := url.Parse(sb.URL())
	client, err := stablemint.New(stablemint.Config{
		BaseURL: sb.URL(), APIKey: "test", APISecret: "secret", PrivateKey: partner,
		CheckoutHosts: []string{u.Host}, WebhookKeys: []*rsa.PublicKey{&sbk.PublicKey},
		MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
		CallTimeout: 5 * time.Second, BreakerThreshold: 1000,
		// As serve runs the built-in sandbox: its documented 0.1 to 10.
		MinAmount: stablemint.SandboxLimits().Min, MaxAmount: stablemint.SandboxLimits().Max,
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb, client
}

// testLogger is silent unless the tests run with -v.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// envOption adjusts the application before app.New builds it.
type envOption func(*app.Config, *app.Parts)

// newEnv builds the full router over a real SQLite file and serves it on
// loopback.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir(), opts...)
}

// newEnvIn is newEnv with the database file in dir (a small disk, for
// fault tests).
func newEnvIn(t testing.TB, dir string, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(dir, "paylinks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	clk := testkit.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	st.Now = clk.Now
	sb, client := newProviderTB(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	cfg := app.Config{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"}, SessionKeys: [][]byte{key, key}, HashParams: testParams}
	parts := app.Parts{Store: st, StableMint: client, Logger: testLogger(), Now: clk.Now}
	for _, f := range opts {
		f(&cfg, &parts)
	}
	a, err := app.New(ctx, cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // before the store closes (cleanups run last first)
	e := a.Handler
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{t: t, store: st, hasher: a.Hasher, clock: clk, srv: srv, echo: e, sandbox: sb, client: client, minter: a.Minter, app: a}
}

// addUser creates an account directly in the store.
func (e *env) addUser(email string, role paylink.Role) db.User {
	e.t.Helper()
	hash, err := e.hasher.Hash(context.Background(), testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.store.CreateUser(context.Background(), db.NewUser{Email: email, Name: "Test " + string(role), Role: role, PasswordHash: hash}, db.AuditEntry{Action: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// browser is a client with its own cookie jar that does not follow redirects.
type browser struct {
	t testing.TB
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	resp *http.Response
	body string
	doc  *goquery.Document
}

func (p page) status() int                        { return p.resp.StatusCode }
func (p page) location() string                   { return p.resp.Header.Get("Location") }
func (p page) find(sel string) *goquery.Selection { return p.doc.Find(sel) }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(raw)))
	return page{resp: resp, body: string(raw), doc: doc}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as a browser without Sec-Fetch-Site would (token path).
func (b *browser) post(path string, form url.Values, headers ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// csrf fetches path and returns the form token it renders.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	tok, ok := p.find(`input[name="_csrf"]`).First().Attr("value")
	if !ok || tok == "" {
		b.t.Fatalf("GET %s: no _csrf field (status %d)", path, p.status())
	}
	return tok
}

// submit GETs formPath for a token, then POSTs form to action with it.
func (b *browser) submit(formPath, action string, form url.Values) page {
	b.t.Helper()
	form.Set("_csrf", b.csrf(formPath))
	return b.post(action, form)
}

// login signs in and fails the test unless it succeeds.
func (b *browser) login(email string) {
	b.t.Helper()
	p := b.submit("/login", "/login", url.Values{"email": {email}, "password": {testPassword}})
	if p.status() != http.StatusSeeOther {
		b.t.Fatalf("login %s: status %d, want 303; body: %s", email, p.status(), p.find("[data-testid=form-error]").Text())
	}
}

// cookie returns the named cookie from the jar.
func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie replaces a cookie in the jar.
func (b *browser) setCookie(c *http.Cookie) {
	u, _ := url.Parse(b.e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{c})
}

type goquerySelection = goquery.Selection

func fmtSscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }
