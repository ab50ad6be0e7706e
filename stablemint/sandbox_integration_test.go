package stablemint_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// The sandbox and this client implement the contract separately; these
// tests run one against the other over real loopback HTTP.

const sandboxSecret = "sandbox-secret"

type sandboxOptions struct {
	scheme     string
	family     string
	partnerKey *rsa.PublicKey // nil: the partner test key's public half
	webhookURL string
}

func startSandbox(t *testing.T, o sandboxOptions) *sandbox.Server {
	t.Helper()
	if o.partnerKey == nil {
		o.partnerKey = &testKey(t, partnerKeyFile).PublicKey
	}
	srv, err := sandbox.New(sandbox.Config{
		Addr:             "127.0.0.1:0",
		APIKey:           "sandbox-key",
		APISecret:        sandboxSecret,
		PartnerPublicKey: o.partnerKey,
		Scheme:           o.scheme,
		Family:           o.family,
		WebhookURL:       o.webhookURL,
		PrivateKey:       testKey(t, webhookKeyFile), // no key generation in tests
		TimeScale:        0.001,
	})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("sandbox Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func sandboxClient(t *testing.T, srv *sandbox.Server, scheme string, edit ...func(*stablemint.Config)) *stablemint.Client {
	t.Helper()
	cfg := stablemint.Config{
		BaseURL:    srv.URL(),
		APIKey:     "sandbox-key",
		APISecret:  sandboxSecret,
		PrivateKey: testKey(t, partnerKeyFile),
		Scheme:     stablemint.Scheme(scheme),
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := stablemint.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestSandboxCreateSession(t *testing.T) {
	for _, scheme := range []string{"v1", "v2"} {
		t.Run(scheme, func(t *testing.T) {
			srv := startSandbox(t, sandboxOptions{scheme: scheme})
			c := sandboxClient(t, srv, scheme)
			req := validRequest(t)
			req.CustomFields = map[string]string{"orderId": "A-1"}
			req.UserKYC = &stablemint.KYC{FullName: "Ana Diaz", DateOfBirth: "1990-04-23"}
			sess, err := c.CreateHostedSession(context.Background(), req)
			if err != nil {
				t.Fatalf("CreateHostedSession: %v", err)
			}
			sessions := srv.Sessions()
			if len(sessions) != 1 {
				t.Fatalf("sandbox has %d sessions, want 1", len(sessions))
			}
			got := sessions[0]
			if got.Reference != sess.Reference || got.URL != sess.URL || got.Amount != "9.50" || got.Currency != "EUR" ||
				got.IdempotencyKey != req.IdempotencyKey || got.CustomFields["orderId"] != "A-1" {
				t.Errorf("sandbox session %+v does not match client session %+v", got, sess)
			}
			if d := time.Until(sess.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
				t.Errorf("ExpiresAt = %s, want about 24h ahead", sess.ExpiresAt)
			}
			if err := c.CheckCheckoutURL(sess.URL); err != nil {
				t.Errorf("stored URL fails the re-check: %v", err)
			}
		})
	}
}

func TestSandboxRefusals(t *testing.T) {
	t.Run("validation refusal is a RejectedError 400", func(t *testing.T) {
		srv := startSandbox(t, sandboxOptions{scheme: "v1"})
		// Our limits allow 50 EUR; the sandbox's (0.1 to 10) do not.
		c := sandboxClient(t, srv, "v1", func(c *stablemint.Config) { c.MaxAmount = mustDecimal(t, "1000") })
		req := validRequest(t)
		req.Amount = mustAmount(t, "50", "EUR")
		_, err := c.CreateHostedSession(context.Background(), req)
		var rej *stablemint.RejectedError
		if !errors.As(err, &rej) || rej.Status != http.StatusBadRequest || rej.Body == "" {
			t.Fatalf("error = %#v, want RejectedError 400 with the sandbox's body", err)
		}
		if !strings.Contains(rej.Body, `"amount"`) {
			t.Errorf("400 body = %s, want it to name the amount field", rej.Body)
		}
		if len(srv.Sessions()) != 0 {
			t.Error("a session was created")
		}
	})
	t.Run("bad signature is a RejectedError 401", func(t *testing.T) {
		srv := startSandbox(t, sandboxOptions{scheme: "v2", partnerKey: &testKey(t, webhookRotatedKeyFile).PublicKey})
		c := sandboxClient(t, srv, "v2")
		_, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var rej *stablemint.RejectedError
		if !errors.As(err, &rej) || rej.Status != http.StatusUnauthorized {
			t.Fatalf("error = %#v, want RejectedError 401", err)
		}
		if !strings.Contains(rej.Body, `"Signature"`) { // the sandbox's own error convention
			t.Errorf("401 body = %s, want it to blame the Signature header", rej.Body)
		}
	})
	t.Run("wrong secret is a RejectedError 401", func(t *testing.T) {
		srv := startSandbox(t, sandboxOptions{scheme: "v1"})
		c := sandboxClient(t, srv, "v1", func(c *stablemint.Config) { c.APISecret = "not-the-secret" })
		_, err := c.CreateHostedSession(context.Background(), validRequest(t))
		var rej *stablemint.RejectedError
		if !errors.As(err, &rej) || rej.Status != http.StatusUnauthorized {
			t.Fatalf("error = %#v, want RejectedError 401", err)
		}
		if !strings.Contains(rej.Body, `"signature"`) {
			t.Errorf("401 body = %s, want it to blame the signature header", rej.Body)
		}
	})
	t.Run("key reused with another body is a RejectedError 409", func(t *testing.T) {
		srv := startSandbox(t, sandboxOptions{scheme: "v1"})
		c := sandboxClient(t, srv, "v1")
		if _, err := c.CreateHostedSession(context.Background(), validRequest(t)); err != nil {
			t.Fatal(err)
		}
		req := validRequest(t)
		req.Amount = mustAmount(t, "5", "EUR")
		_, err := c.CreateHostedSession(context.Background(), req)
		var rej *stablemint.RejectedError
		if !errors.As(err, &rej) || rej.Status != http.StatusConflict {
			t.Fatalf("error = %#v, want RejectedError 409", err)
		}
	})
}

func TestSandboxRetriesCreateExactlyOneSession(t *testing.T) {
	tests := []struct {
		name   string
		inject func(*sandbox.Server)
	}{
		{"5xx then success", func(s *sandbox.Server) { s.FailNextCreates(2, http.StatusServiceUnavailable) }},
		{"429 then success", func(s *sandbox.Server) { s.FailNextCreates(1, http.StatusTooManyRequests) }},
		{"connection dropped after commit", func(s *sandbox.Server) { s.DropNextCreateAfterCommit() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSandbox(t, sandboxOptions{scheme: "v2"})
			c := sandboxClient(t, srv, "v2")
			tt.inject(srv)
			sess, err := c.CreateHostedSession(context.Background(), validRequest(t))
			if err != nil {
				t.Fatalf("CreateHostedSession: %v", err)
			}
			sessions := srv.Sessions()
			if len(sessions) != 1 || sessions[0].Reference != sess.Reference {
				t.Fatalf("sandbox sessions = %+v, want exactly the one returned (%s)", sessions, sess.Reference)
			}
			// A later retry of the same link (same key, same body) replays it.
			again, err := c.CreateHostedSession(context.Background(), validRequest(t))
			if err != nil || again != sess || len(srv.Sessions()) != 1 {
				t.Errorf("replay = %+v, %v with %d sessions; want the same session, still one", again, err, len(srv.Sessions()))
			}
		})
	}
}

// TestSandboxWebhooksVerifyAndParse delivers the sandbox's signed webhooks
// for each family into a receiver that uses Verify and ParseEvent.
func TestSandboxWebhooksVerifyAndParse(t *testing.T) {
	tests := []struct {
		family      string
		wantFamily  stablemint.Family
		wantEffects []stablemint.Effect
	}{
		{"v2", stablemint.FamilyV2, []stablemint.Effect{stablemint.EffectProcessing, stablemint.EffectProcessing,
			stablemint.EffectProcessing, stablemint.EffectPaid, stablemint.EffectSettled}},
		{"partner", stablemint.FamilyPartner, []stablemint.Effect{stablemint.EffectProcessing, stablemint.EffectProcessing,
			stablemint.EffectPaid, stablemint.EffectPaid}},
		{"legacy", stablemint.FamilyLegacy, []stablemint.Effect{stablemint.EffectPaid}},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			rec := &webhookReceiver{}
			recv := httptest.NewServer(rec)
			t.Cleanup(recv.Close)
			srv := startSandbox(t, sandboxOptions{scheme: "v1", family: tt.family, webhookURL: recv.URL})
			pub, err := stablemint.ParseRSAPublicKeyPEM(srv.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			rec.setVerifier(t, pub)
			c := sandboxClient(t, srv, "v1")
			sess, err := c.CreateHostedSession(context.Background(), validRequest(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Outcome(sess.Reference, sandbox.OutcomePay); err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, "every expected event", func() bool { return len(rec.Events()) >= len(tt.wantEffects) })
			events := rec.Events()
			if refused := rec.Refused(); len(refused) != 0 {
				t.Errorf("receiver refused deliveries: %v", refused)
			}
			var effects []stablemint.Effect
			for _, ev := range events {
				effects = append(effects, ev.Effect)
				if ev.Family != tt.wantFamily || ev.SessionID != sess.Reference || ev.IdempotencyKey != validRequest(t).IdempotencyKey {
					t.Errorf("event %+v: want family %s, session %s, the link's idempotency key", ev, tt.wantFamily, sess.Reference)
				}
				if a, err := ev.Amount(); err != nil || a != validRequest(t).Amount {
					t.Errorf("event amount = %+v, %v; want %+v", a, err, validRequest(t).Amount)
				}
				if ev.DepositReference == "" {
					t.Errorf("event %s has no deposit reference", ev.Type)
				}
			}
			if !slices.Equal(effects, tt.wantEffects) {
				t.Errorf("effects = %v, want %v", effects, tt.wantEffects)
			}
		})
	}
}

// webhookReceiver verifies and parses deliveries, answering 401 or 200.
type webhookReceiver struct {
	mu      sync.Mutex
	v       *stablemint.Verifier
	events  []stablemint.Event
	refused []string
}

func (rec *webhookReceiver) setVerifier(t *testing.T, pub *rsa.PublicKey) {
	v, err := stablemint.NewVerifier([]*rsa.PublicKey{pub}, 4*time.Hour, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.v = v
	rec.mu.Unlock()
}

func (rec *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.v == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := rec.v.Verify(r.Header, body); err != nil {
		rec.refused = append(rec.refused, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ev, err := stablemint.ParseEvent(body)
	if err != nil {
		rec.refused = append(rec.refused, err.Error())
	}
	rec.events = append(rec.events, ev)
	w.WriteHeader(http.StatusOK)
}

func (rec *webhookReceiver) Events() []stablemint.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events)
}

func (rec *webhookReceiver) Refused() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.refused)
}
