package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/stablemint"
)

// testRSAKeys are made once per test run: three of 2048 bits and one too
// weak for stablemint (1024 bits).
var testRSAKeys = sync.OnceValue(func() (k struct{ partner, webhook, rotated, weak *rsa.PrivateKey }) {
	gen := func(bits int) *rsa.PrivateKey {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return key
	}
	k.partner, k.webhook, k.rotated, k.weak = gen(2048), gen(2048), gen(2048), gen(1024)
	return k
})

// keyFiles are PEM files of testRSAKeys, in the encodings the STABLEMINT_*
// key variables accept and some they refuse.
type keyFiles struct {
	partner      string // PKCS#8 private key
	webhookPKIX  string // public key
	webhookPKCS1 string // the rotated key's public half, PKCS#1
	weakPublic   string // 1024 bits, PKIX
	weakPrivate  string // 1024 bits, PKCS#1
	private2     string // a private key (PKCS#1) where a public one belongs
}

func writeKeyFiles(t *testing.T) keyFiles {
	t.Helper()
	k := testRSAKeys()
	dir := t.TempDir()
	write := func(name, typ string, der []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	partner, err := x509.MarshalPKCS8PrivateKey(k.partner)
	kf := keyFiles{partner: write("partner.pem", "PRIVATE KEY", partner, err)}
	pkix, err := x509.MarshalPKIXPublicKey(&k.webhook.PublicKey)
	kf.webhookPKIX = write("webhook.pem", "PUBLIC KEY", pkix, err)
	kf.webhookPKCS1 = write("rotated.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rotated.PublicKey), nil)
	weak, err := x509.MarshalPKIXPublicKey(&k.weak.PublicKey)
	kf.weakPublic = write("weak.pub.pem", "PUBLIC KEY", weak, err)
	kf.weakPrivate = write("weak.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.weak), nil)
	kf.private2 = write("webhook-private.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.webhook), nil)
	return kf
}

// stableMintEnv is a complete StableMint configuration.
func stableMintEnv(kf keyFiles) map[string]string {
	return map[string]string{
		"STABLEMINT_BASE_URL":                "https://paymentinitiationservice-rest.stablemint.net",
		"STABLEMINT_API_KEY":                 "key-1",
		"STABLEMINT_API_SECRET":              "super-secret-value",
		"STABLEMINT_PRIVATE_KEY_FILE":        kf.partner,
		"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + ", " + kf.webhookPKCS1,
	}
}

func TestStableMintConfiguration(t *testing.T) {
	kf := writeKeyFiles(t)
	base := stableMintEnv(kf)
	t.Run("unset base URL: demo mode, the other variables unread", func(t *testing.T) {
		env := maps.Clone(base)
		env["STABLEMINT_BASE_URL"] = " "
		env["STABLEMINT_AUTH_SCHEME"] = "v3"
		c, err := loadConfig(envFrom(env))
		if err != nil || c.StableMint != nil {
			t.Fatalf("StableMint %v, err %v; want nil, nil", c.StableMint, err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		c, err := loadConfig(envFrom(base))
		if err != nil {
			t.Fatalf("loadConfig: %v", err)
		}
		cfg := c.StableMint
		if cfg.Scheme != stablemint.SchemeV1 || len(cfg.WebhookKeys) != 2 || cfg.PrivateKey == nil || cfg.CustomFieldsAs != stablemint.CustomFieldsObject {
			t.Errorf("scheme %s, %d webhook keys, private key %v", cfg.Scheme, len(cfg.WebhookKeys), cfg.PrivateKey != nil)
		}
		if got, want := cfg.CheckoutHosts, []string{"paymentinitiationservice-rest.stablemint.net", "*.stablemint.io", "*.stablemint.net"}; !slices.Equal(got, want) {
			t.Errorf("CheckoutHosts = %v, want %v", got, want)
		}
		if !cfg.MinAmount.IsZero() || !cfg.MaxAmount.IsZero() {
			t.Errorf("limits = %s..%s, want none: StableMint documents only its sandbox's", cfg.MinAmount, cfg.MaxAmount)
		}
		if cfg.WebhookTolerancePast != 4*time.Hour || cfg.WebhookToleranceFuture != 5*time.Minute {
			t.Errorf("tolerances = %s/%s, want 4h/5m", cfg.WebhookTolerancePast, cfg.WebhookToleranceFuture)
		}
		if _, err := stablemint.New(*cfg); err != nil {
			t.Errorf("stablemint.New = %v", err)
		}
		if _, err := cfg.Verifier(); err != nil {
			t.Errorf("Verifier() = %v", err)
		}
	})
	t.Run("production without limits validates 1,250.00 EUR", func(t *testing.T) {
		c, err := loadConfig(envFrom(base))
		if err != nil {
			t.Fatalf("loadConfig: %v", err)
		}
		client, err := stablemint.New(*c.StableMint)
		if err != nil {
			t.Fatal(err)
		}
		amount, err := stablemint.ParseAmount("1,250.00", "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if err := sessionRequest(amount).Validate(client.Limits()); err != nil {
			t.Errorf("1,250.00 EUR refused: %v", err)
		}
	})
	t.Run("either limit alone", func(t *testing.T) {
		for _, tt := range []struct{ name, value, ok, refused string }{
			{"STABLEMINT_MIN_AMOUNT", "5", "1,250.00", "4.99"},
			{"STABLEMINT_MAX_AMOUNT", "1000", "0.01", "1,000.01"},
		} {
			env := maps.Clone(base)
			env[tt.name] = tt.value
			c, err := loadConfig(envFrom(env))
			if err != nil {
				t.Fatalf("%s=%s: %v", tt.name, tt.value, err)
			}
			client, err := stablemint.New(*c.StableMint)
			if err != nil {
				t.Fatal(err)
			}
			for amount, wantOK := range map[string]bool{tt.ok: true, tt.refused: false} {
				a, err := stablemint.ParseAmount(amount, "EUR")
				if err != nil {
					t.Fatal(err)
				}
				if err := sessionRequest(a).Validate(client.Limits()); (err == nil) != wantOK {
					t.Errorf("%s=%s: %s EUR: %v, want accepted %v", tt.name, tt.value, amount, err, wantOK)
				}
			}
		}
	})
	t.Run("everything set", func(t *testing.T) {
		env := maps.Clone(base)
		env["STABLEMINT_AUTH_SCHEME"] = "v2"
		env["STABLEMINT_CHECKOUT_HOSTS"] = " Pay.Example , 127.0.0.1:9090, *.StableMint.io"
		env["STABLEMINT_CUSTOM_FIELDS_AS"] = "string"
		env["STABLEMINT_MIN_AMOUNT"] = "1"
		env["STABLEMINT_MAX_AMOUNT"] = "5000.00"
		env["STABLEMINT_WEBHOOK_TOLERANCE_PAST"] = "6h"
		env["STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"] = "1m"
		c, err := loadConfig(envFrom(env))
		if err != nil {
			t.Fatalf("loadConfig: %v", err)
		}
		cfg := c.StableMint
		if cfg.Scheme != stablemint.SchemeV2 || !slices.Equal(cfg.CheckoutHosts, []string{"pay.example", "127.0.0.1:9090", "*.stablemint.io"}) ||
			cfg.CustomFieldsAs != stablemint.CustomFieldsString ||
			cfg.MinAmount.String() != "1" || cfg.MaxAmount.String() != "5000.00" ||
			cfg.WebhookTolerancePast != 6*time.Hour || cfg.WebhookToleranceFuture != time.Minute {
			t.Errorf("config = %v", cfg)
		}
	})

	tests := []struct {
		name string
		set  map[string]string
		vars []string // variables the error must name, one line each
	}{
		{"base url plain http", map[string]string{"STABLEMINT_BASE_URL": "http://stablemint.example"}, []string{"STABLEMINT_BASE_URL"}},
		{"api key missing", map[string]string{"STABLEMINT_API_KEY": " "}, []string{"STABLEMINT_API_KEY"}},
		{"secret missing", map[string]string{"STABLEMINT_API_SECRET": ""}, []string{"STABLEMINT_API_SECRET"}},
		{"secret with a control character", map[string]string{"STABLEMINT_API_SECRET": "super-secret-value\x01"}, []string{"STABLEMINT_API_SECRET"}},
		{"private key file missing", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": ""}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key file unreadable", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key is a public key", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": kf.webhookPKIX}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"private key too weak", map[string]string{"STABLEMINT_PRIVATE_KEY_FILE": kf.weakPrivate}, []string{"STABLEMINT_PRIVATE_KEY_FILE"}},
		{"webhook keys missing", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": ""}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key is private", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.private2}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key too weak", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + "," + kf.weakPublic}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"two bad webhook keys, a line each", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.private2 + "," + kf.weakPublic},
			[]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE", "STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"webhook key list with empty entry", map[string]string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE": kf.webhookPKIX + ",,"}, []string{"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"}},
		{"unknown scheme", map[string]string{"STABLEMINT_AUTH_SCHEME": "v3"}, []string{"STABLEMINT_AUTH_SCHEME"}},
		{"bad checkout host", map[string]string{"STABLEMINT_CHECKOUT_HOSTS": "https://pay.example/"}, []string{"STABLEMINT_CHECKOUT_HOSTS"}},
		{"checkout wildcard too wide", map[string]string{"STABLEMINT_CHECKOUT_HOSTS": "*.io"}, []string{"STABLEMINT_CHECKOUT_HOSTS"}},
		{"unknown customFields format", map[string]string{"STABLEMINT_CUSTOM_FIELDS_AS": "json"}, []string{"STABLEMINT_CUSTOM_FIELDS_AS"}},
		{"bad min amount", map[string]string{"STABLEMINT_MIN_AMOUNT": "0,1"}, []string{"STABLEMINT_MIN_AMOUNT"}},
		{"zero min amount", map[string]string{"STABLEMINT_MIN_AMOUNT": "0"}, []string{"STABLEMINT_MIN_AMOUNT"}},
		{"max below min", map[string]string{"STABLEMINT_MIN_AMOUNT": "0.1", "STABLEMINT_MAX_AMOUNT": "0.05"}, []string{"STABLEMINT_MAX_AMOUNT"}},
		{"zero max amount", map[string]string{"STABLEMINT_MAX_AMOUNT": "0"}, []string{"STABLEMINT_MAX_AMOUNT"}},
		{"bad max amount", map[string]string{"STABLEMINT_MAX_AMOUNT": "1e3"}, []string{"STABLEMINT_MAX_AMOUNT"}},
		{"bad tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST": "4 hours"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST"}},
		{"zero past tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST": "0s"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_PAST"}},
		{"zero future tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE": "0s"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"}},
		{"huge future tolerance", map[string]string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE": "1000h"}, []string{"STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"}},
		{"several problems at once", map[string]string{"STABLEMINT_API_KEY": "", "STABLEMINT_AUTH_SCHEME": "x"},
			[]string{"STABLEMINT_API_KEY", "STABLEMINT_AUTH_SCHEME"}},
		{"with paylinks' own", map[string]string{"PAYLINKS_LOGIN_RATE": "0", "STABLEMINT_API_SECRET": ""},
			[]string{"PAYLINKS_LOGIN_RATE", "STABLEMINT_API_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tt.set)
			_, err := loadConfig(envFrom(env))
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.vars) {
				t.Errorf("error has %d lines, want %d:\n%v", len(lines), len(tt.vars), err)
			}
			for i, v := range tt.vars {
				if i < len(lines) && !strings.HasPrefix(lines[i], v+": ") {
					t.Errorf("line %d = %q, want it to start with %s", i, lines[i], v)
				}
			}
			if strings.Contains(err.Error(), "super-secret-value") || strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// The settings table is well formed, loadConfig reads exactly its
// variables, and each default it lists is the one applied.
func TestSettingsTable(t *testing.T) {
	names := map[string]int{}
	nameRE := regexp.MustCompile(`^(PAYLINKS|STABLEMINT)_[A-Z0-9_]+$`)
	for i, s := range settings {
		if !nameRE.MatchString(s.Name) {
			t.Errorf("%q: not a PAYLINKS_* or STABLEMINT_* name", s.Name)
		}
		if _, dup := names[s.Name]; dup {
			t.Errorf("%s is listed twice", s.Name)
		}
		names[s.Name] = i
		if s.Doc == "" || strings.ContainsAny(s.Doc, "\r\n") || strings.ContainsAny(s.Shown, "\r\n|") {
			t.Errorf("%s: the doc and shown default must be one line (and the default no |)", s.Name)
		}
		if s.Shown != "" && s.Shown == "`"+s.Default+"`" {
			t.Errorf("%s: Shown repeats Default; leave it empty", s.Name)
		}
		if s.Required && s.Default != "" {
			t.Errorf("%s: required with a default", s.Name)
		}
		if j, ok := names[s.Needs]; s.Needs != "" && (!ok || j >= i) {
			t.Errorf("%s needs %s, which is not a row above it", s.Name, s.Needs)
		}
		if s.parse == nil {
			t.Errorf("%s has no parser", s.Name)
		}
	}
	for _, r := range rules {
		if _, ok := names[r.name]; !ok {
			t.Errorf("a rule names %s, which is not a setting", r.name)
		}
		for _, n := range r.needs {
			if _, ok := names[n]; !ok {
				t.Errorf("a rule on %s needs %s, which is not a setting", r.name, n)
			}
		}
	}

	env := stableMintEnv(writeKeyFiles(t))
	env["PAYLINKS_DB"] = filepath.Join(t.TempDir(), "x.db")
	read := map[string]bool{}
	if _, err := loadConfig(func(k string) string { read[k] = true; return env[k] }); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !read[s.Name] {
			t.Errorf("%s is listed but loadConfig does not read it", s.Name)
		}
	}
	for k := range read {
		if _, ok := names[k]; !ok {
			t.Errorf("loadConfig reads unlisted %s", k)
		}
	}

	// Setting a variable to its listed default changes nothing.
	for _, s := range settings {
		if s.Default == "" {
			continue
		}
		unset := maps.Clone(env)
		delete(unset, s.Name)
		withDefault, err1 := loadConfig(envFrom(unset))
		explicit := maps.Clone(env)
		explicit[s.Name] = s.Default
		c, err := loadConfig(envFrom(explicit))
		if err = errors.Join(err1, err); err != nil || !reflect.DeepEqual(withoutKeys(c), withoutKeys(withDefault)) {
			t.Errorf("%s=%s (its listed default) differs from leaving it unset (%v)", s.Name, s.Default, err)
		}
	}
	// The StableMint defaults are the client's own.
	withDefaults, err := loadConfig(envFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	sm := withDefaults.StableMint
	if sm.WebhookTolerancePast != stablemint.DefaultWebhookTolerancePast || sm.WebhookToleranceFuture != stablemint.DefaultWebhookToleranceFuture {
		t.Errorf("StableMint defaults %v differ from package stablemint's", sm)
	}
	client, err := stablemint.New(*sm)
	if err != nil {
		t.Fatal(err)
	}
	if l := client.Limits(); !l.Min.IsZero() || !l.Max.IsZero() {
		t.Errorf("unset amount limits give the client %s..%s, want none", l.Min, l.Max)
	}
}

// sessionRequest is a valid request for amount.
func sessionRequest(amount stablemint.Amount) stablemint.Request {
	return stablemint.Request{UserID: "C1", UserEmail: "ada@example.com", UserCountryCode: "DE",
		Currency: amount.Currency, Amount: amount, SuccessURL: "https://shop.example/s", SupportURL: "https://shop.example/h",
		ExitURL: "https://shop.example/e", ErrorURL: "https://shop.example/r", IdempotencyKey: "k-" + amount.String()}
}

// Demo mode keeps StableMint's sandbox limits, the only documented ones:
// the built-in sandbox enforces them too.
func TestDemoProviderKeepsSandboxLimits(t *testing.T) {
	p, err := openProvider(nil, t.TempDir(), "http://127.0.0.1:1/webhooks/stablemint", slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if l := p.Client.Limits(); l.Min.String() != "0.1" || l.Max.String() != "10" {
		t.Errorf("demo limits = %s..%s, want 0.1..10", l.Min, l.Max)
	}
}

// TestProviderLogsNameTheirComponentOnce: no record the StableMint client
// or the demo sandbox writes carries "component" twice, and the client's
// carry component=stablemint.
func TestProviderLogsNameTheirComponentOnce(t *testing.T) {
	rec := &recordingHandler{records: new([][]slog.Attr), mu: new(sync.Mutex)}
	p, err := openProvider(nil, t.TempDir(), "http://127.0.0.1:1/webhooks/stablemint", slog.New(rec), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	amount, _ := stablemint.ParseAmount("5.00", "EUR")
	if _, err := p.Client.CreateHostedSession(context.Background(), sessionRequest(amount)); err != nil {
		t.Fatal(err)
	}
	components := map[string]int{}
	for _, attrs := range rec.all() {
		n := 0
		for _, a := range attrs {
			if a.Key == "component" {
				n++
				components[a.Value.String()]++
			}
		}
		if n > 1 {
			t.Errorf("a record has %d component attributes, want 1: %v", n, attrs)
		}
	}
	if components["stablemint"] == 0 {
		t.Errorf("no record of the StableMint client (components seen: %v)", components)
	}
}

// recordingHandler keeps each record's attributes, those its logger was
// given with With included, in order (groups are not used here).
type recordingHandler struct {
	mu      *sync.Mutex
	records *[][]slog.Attr
	attrs   []slog.Attr
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, attrs)
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordingHandler{mu: h.mu, records: h.records, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func (h *recordingHandler) all() [][]slog.Attr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.records)
}

// withoutKeys drops the parsed RSA keys, which compare poorly.
func withoutKeys(c Config) Config {
	if c.StableMint != nil {
		sm := *c.StableMint
		sm.PrivateKey, sm.WebhookKeys = nil, nil
		c.StableMint = &sm
	}
	return c
}

func TestConfigCommand(t *testing.T) {
	kf := writeKeyFiles(t)
	const (
		sessionKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		token      = "metrics-token-0123456789"
		smtpPass   = "smtp-pass-hunter2"
	)
	env := stableMintEnv(kf)
	maps.Copy(env, map[string]string{
		"PAYLINKS_DB":            filepath.Join(t.TempDir(), "c.db"),
		"PAYLINKS_SESSION_KEYS":  sessionKey,
		"PAYLINKS_METRICS_TOKEN": token,
		"PAYLINKS_SMTP_URL":      "smtps://billing:" + smtpPass + "@mail.acme.example",
		"PAYLINKS_MAIL_FROM":     "billing@acme.example",
		"PAYLINKS_SESSION_IDLE":  " 15m ",
	})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"paylinks", "config"}, envFrom(env), nil, &out, io.Discard); err != nil {
		t.Fatalf("config: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, secret := range []string{sessionKey, token, smtpPass, "key-1", "super-secret-value", "BEGIN"} {
		if strings.Contains(got, secret) {
			t.Errorf("the output shows %q", secret)
		}
	}
	// Every variable, in order, with its default; set ones marked.
	at := 0
	for _, s := range settings {
		i := strings.Index(got[at:], "\n"+s.Name+"\n    default  "+plain(s.shownDefault())+"\n")
		if i < 0 {
			t.Fatalf("%s (default %s) not listed after offset %d:\n%s", s.Name, plain(s.shownDefault()), at, got)
		}
		at += i + 1
		block, _, _ := strings.Cut(got[at:], "\n\n")
		if isSet := strings.Contains(block, "\n    set      "); isSet != (strings.TrimSpace(env[s.Name]) != "") {
			t.Errorf("%s: marked set %v, want %v:\n%s", s.Name, isSet, !isSet, block)
		}
	}
	for _, want := range []string{
		"    set      15m\n",
		"    set      " + env["PAYLINKS_DB"] + "\n",
		"    set      smtps://billing:xxxxx@mail.acme.example\n",
		"    set      " + kf.partner + "\n",
		"PAYLINKS_METRICS_TOKEN\n    default  none\n    set      (hidden)\n",
		"No problems found.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}

	t.Run("a bad configuration is listed, then refused", func(t *testing.T) {
		env := map[string]string{"PAYLINKS_LOGIN_RATE": "lots", "STABLEMINT_API_KEY": "key-1"}
		var out bytes.Buffer
		err := run(context.Background(), []string{"paylinks", "config"}, envFrom(env), nil, &out, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "PAYLINKS_LOGIN_RATE: ") {
			t.Fatalf("config = %v, want an error naming PAYLINKS_LOGIN_RATE", err)
		}
		if !strings.Contains(out.String(), "    set      lots\n") ||
			!strings.Contains(out.String(), "    set      (hidden) (ignored: STABLEMINT_BASE_URL is not set)\n") {
			t.Errorf("output:\n%s", out.String())
		}
	})
	t.Run("arguments refused", func(t *testing.T) {
		if err := run(context.Background(), []string{"paylinks", "config", "--all"}, envFrom(nil), nil, io.Discard, io.Discard); err == nil {
			t.Error("config --all accepted")
		}
	})
}

// TestTableDefaultsAreTheAppDefaults: the configuration table and app (for
// callers that leave a setting zero, such as the tests) state the same
// defaults, so a change to one without the other fails here.
func TestTableDefaultsAreTheAppDefaults(t *testing.T) {
	c, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name      string
		got, want any
	}{
		{"PAYLINKS_SESSION_IDLE", c.IdleTimeout, app.DefaultIdleTimeout},
		{"PAYLINKS_SESSION_MAX", c.AbsoluteTimeout, app.DefaultAbsoluteTimeout},
		{"PAYLINKS_LOGIN_RATE", c.LoginRate, app.DefaultLoginRatePerMinute},
		{"PAYLINKS_WEBHOOK_RATE", c.WebhookRate, app.DefaultWebhookRatePerSecond},
		{"PAYLINKS_MAIL_RATE", c.MailRate, app.DefaultMailRatePerMinute},
		{"PAYLINKS_IMPORT_IN_FLIGHT", c.ImportInFlight, app.DefaultImportInFlight},
		{"PAYLINKS_COMPANY_NAME", c.CompanyName, app.DefaultCompanyName},
		{"PAYLINKS_MAIL_FROM", c.MailFrom.Email, app.DefaultMailFrom},
		{"PAYLINKS_WAL_LIMIT", c.WALLimit, int64(db.DefaultWALLimit)},
		{"PAYLINKS_EXPENSIVE_CONCURRENCY", c.ExpensiveConcurrency, app.DefaultExpensiveConcurrency},
	} {
		if d.got != d.want {
			t.Errorf("%s defaults to %v in the table, %v in app", d.name, d.got, d.want)
		}
	}
}

// TestOnlyServeReadsStableMintSettings: a broken StableMint key file stops
// serve (and paylinks config says why) but never migrate, backup or the
// health check.
func TestOnlyServeReadsStableMintSettings(t *testing.T) {
	kf := writeKeyFiles(t)
	env := stableMintEnv(kf)
	env["STABLEMINT_PRIVATE_KEY_FILE"] = filepath.Join(t.TempDir(), "missing.pem")
	env["PAYLINKS_DB"] = filepath.Join(t.TempDir(), "p.db")
	if err := run(context.Background(), []string{"paylinks", "migrate"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate with a broken StableMint key file: %v", err)
	}
	err := run(context.Background(), []string{"paylinks", "serve"}, envFrom(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "STABLEMINT_PRIVATE_KEY_FILE") {
		t.Fatalf("serve with a broken StableMint key file: %v, want the variable named", err)
	}
}
