package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/sandbox"
)

func TestCreateSessionSucceeds(t *testing.T) {
	for _, scheme := range []string{"v1", "v2"} {
		t.Run(scheme, func(t *testing.T) {
			s := newSandbox(t, withScheme(scheme))
			req := validRequest()
			before := time.Now()
			status, b := postCreate(t, s.URL(), signedHeaders(scheme, time.Now(), mustJSON(t, req)), mustJSON(t, req))
			if status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", status, b)
			}
			var cr createResponse
			if err := json.Unmarshal(b, &cr); err != nil {
				t.Fatal(err)
			}
			if cr.Reference == "" {
				t.Fatal("empty reference")
			}
			if want := s.URL() + "/checkout/" + cr.Reference; cr.URL != want {
				t.Errorf("url = %q, want %q", cr.URL, want)
			}
			wantExp := before.Add(24 * time.Hour).Unix()
			if cr.ExpiresAt < wantExp-1 || cr.ExpiresAt > wantExp+5 {
				t.Errorf("expiresAt = %d, want about %d (Unix seconds)", cr.ExpiresAt, wantExp)
			}
			sessions := s.Sessions()
			if len(sessions) != 1 {
				t.Fatalf("got %d sessions, want 1", len(sessions))
			}
			got := sessions[0]
			if got.Reference != cr.Reference || got.URL != cr.URL || got.Amount != "7.50" || got.Currency != "EUR" ||
				got.UserID != "cust-42" || got.WebsiteReference != "INV-1001" || got.IdempotencyKey != req["idempotencyKey"] ||
				got.Status != sandbox.StatusOpen || got.ExpiresAt.Unix() != cr.ExpiresAt {
				t.Errorf("session = %+v, does not match request and response %+v", got, cr)
			}
		})
	}
}

func TestCreateSessionURLBase(t *testing.T) {
	t.Run("PublicURL", func(t *testing.T) {
		s := newSandbox(t, func(c *sandbox.Config) { c.PublicURL = "https://pay.sandbox.example/" })
		cr := createValid(t, s)
		if want := "https://pay.sandbox.example/checkout/" + cr.Reference; cr.URL != want {
			t.Errorf("url = %q, want %q", cr.URL, want)
		}
	})
	t.Run("Handler only", func(t *testing.T) {
		s, err := sandbox.New(sandbox.Config{APIKey: testAPIKey, APISecret: testAPISecret,
			PartnerPublicKey: &partnerKey().PublicKey, PrivateKey: webhookKey()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		body := mustJSON(t, validRequest())
		status, b := postCreate(t, srv.URL, signedHeaders("v1", time.Now(), body), body)
		var cr createResponse
		json.Unmarshal(b, &cr)
		if status != 200 || cr.URL != srv.URL+"/checkout/"+cr.Reference {
			t.Errorf("got %d %s, want 200 with url under %s", status, b, srv.URL)
		}
	})
}

func TestCreateSessionUnauthorized(t *testing.T) {
	body := mustJSON(t, validRequest())
	now := time.Now()
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	sec := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	v1 := func(ts, secret, uid string) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("api_key", testAPIKey)
		h.Set("timestamp", ts)
		h.Set("signature", signWith(partnerKey(), ts+","+secret+","+uid))
		return h
	}
	v2 := func(ts string, b []byte) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("ApiKey", testAPIKey)
		h.Set("Timestamp", ts)
		h.Set("Signature", signWith(partnerKey(), ts+","+testAPISecret+","+string(b)))
		return h
	}
	with := func(h http.Header, k, v string) http.Header {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	tests := []struct {
		name   string
		scheme string
		header http.Header
		body   []byte
		field  string
	}{
		{"v1 missing api_key", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "api_key", ""), body, "api_key"},
		{"v1 missing timestamp", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "timestamp", ""), body, "timestamp"},
		{"v1 missing signature", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "signature", ""), body, "signature"},
		{"v1 unknown api key", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "api_key", "pk_other"), body, "api_key"},
		{"v1 signed with another secret", "v1", v1(ms(now), "wrong-secret", "cust-42"), body, "signature"},
		{"v1 signed over another userId", "v1", v1(ms(now), testAPISecret, "cust-43"), body, "signature"},
		{"v1 signed with another key", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "signature",
			signWith(webhookKey(), ms(now)+","+testAPISecret+",cust-42")), body, "signature"},
		{"v1 signature not base64", "v1", with(v1(ms(now), testAPISecret, "cust-42"), "signature", "not base64!"), body, "signature"},
		{"v1 stale timestamp", "v1 strict", v1(ms(now.Add(-6*time.Minute)), testAPISecret, "cust-42"), body, "timestamp"},
		{"v1 future timestamp", "v1 strict", v1(ms(now.Add(6*time.Minute)), testAPISecret, "cust-42"), body, "timestamp"},
		{"v1 timestamp in seconds", "v1 strict", v1(sec(now), testAPISecret, "cust-42"), body, "timestamp"},
		{"v1 timestamp not a number", "v1", v1("yesterday", testAPISecret, "cust-42"), body, "timestamp"},
		{"v2 headers sent to v1", "v1", v2(sec(now), body), body, "api_key"},
		{"v1 bad signature before invalid body", "v1", v1(ms(now), "wrong-secret", ""), []byte("{not json"), "signature"},
		{"v2 missing ApiKey", "v2", with(v2(sec(now), body), "ApiKey", ""), body, "ApiKey"},
		{"v2 unknown api key", "v2", with(v2(sec(now), body), "ApiKey", "pk_other"), body, "ApiKey"},
		{"v2 body changed after signing", "v2", v2(sec(now), body), bytes.Replace(body, []byte("7.50"), []byte("1.50"), 1), "Signature"},
		{"v2 stale timestamp", "v2 strict", v2(sec(now.Add(-10*time.Minute)), body), body, "Timestamp"},
		{"v2 timestamp in milliseconds", "v2 strict", v2(ms(now), body), body, "Timestamp"},
		{"v1 headers sent to v2", "v2", v1(ms(now), testAPISecret, "cust-42"), body, "ApiKey"},
	}
	// The timestamp window is a Strict rule (the document names none): those
	// cases go to Strict sandboxes ("v1 strict"), and a default one takes
	// them (TestCreateAcceptsWhatTheDocumentAllows).
	servers := map[string]*sandbox.Server{"v1": newSandbox(t, withScheme("v1")), "v2": newSandbox(t, withScheme("v2")),
		"v1 strict": newSandbox(t, withScheme("v1"), withStrict), "v2 strict": newSandbox(t, withScheme("v2"), withStrict)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := servers[tt.scheme]
			status, h, b := postCreateFull(t, s.URL(), tt.header, tt.body)
			var e apiError
			json.Unmarshal(b, &e)
			if status != http.StatusUnauthorized || e.Field != tt.field || e.Error == "" {
				t.Errorf("got %d %s, want 401 with field %q", status, b, tt.field)
			}
			want := "always"
			if strings.HasSuffix(tt.scheme, "strict") {
				want = "strict"
			}
			if got := h.Get("X-Sandbox-Refusal"); got != want || e.Refusal != want || !e.Sandbox {
				t.Errorf("X-Sandbox-Refusal %q, body %s: want %q and the sandbox marker", got, b, want)
			}
		})
	}
	for scheme, s := range servers {
		if n := len(s.Sessions()); n != 0 {
			t.Errorf("%s: %d sessions created by refused requests", scheme, n)
		}
	}
}

func TestCreateSessionInvalidField(t *testing.T) {
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	// strict: only a Strict sandbox refuses it; a default one takes it.
	const strict = true
	tests := []struct {
		name   string
		mutate func(map[string]any)
		field  string
		strict bool
	}{
		{"userId missing", del("userId"), "userId", false},
		{"userId not a string", set("userId", 42), "userId", false},
		{"userId blank", set("userId", "  "), "userId", strict},
		{"userEmail missing", del("userEmail"), "userEmail", false},
		{"userEmail not an address", set("userEmail", "ada.example.com"), "userEmail", false},
		{"userEmail with display name", set("userEmail", "Ada <ada@example.com>"), "userEmail", strict},
		{"userCountryCode missing", del("userCountryCode"), "userCountryCode", false},
		{"userCountryCode unassigned", set("userCountryCode", "XX"), "userCountryCode", false},
		{"userCountryCode lower case", set("userCountryCode", "de"), "userCountryCode", false},
		{"userCountryCode alpha-3", set("userCountryCode", "DEU"), "userCountryCode", false},
		{"currency missing", del("currency"), "currency", false},
		{"currency unknown", set("currency", "XYZ"), "currency", false},
		{"currency lower case", set("currency", "eur"), "currency", false},
		{"currency without minor unit", set("currency", "XAU"), "currency", false},
		{"amount missing", del("amount"), "amount", false},
		{"amount as string", set("amount", "7.50"), "amount", false},
		{"amount null", set("amount", nil), "amount", false},
		{"amount with exponent", set("amount", json.Number("1e0")), "amount", strict},
		{"amount negative", set("amount", json.Number("-1")), "amount", false},
		{"successUrl missing", del("successUrl"), "successUrl", false},
		{"successUrl relative", set("successUrl", "/pay/success"), "successUrl", false},
		{"supportUrl missing", del("supportUrl"), "supportUrl", false},
		{"supportUrl ftp", set("supportUrl", "ftp://shop.example/support"), "supportUrl", strict},
		{"exitUrl missing", del("exitUrl"), "exitUrl", false},
		{"exitUrl no host", set("exitUrl", "https:///exit"), "exitUrl", false},
		{"errorUrl missing", del("errorUrl"), "errorUrl", false},
		{"errorUrl mailto", set("errorUrl", "mailto:help@shop.example"), "errorUrl", false},
		{"idempotencyKey too long", set("idempotencyKey", strings.Repeat("k", 256)), "idempotencyKey", strict},
		{"idempotencyKey empty", set("idempotencyKey", ""), "idempotencyKey", strict},
		{"websiteReference empty", set("websiteReference", ""), "websiteReference", strict},
		{"websiteReference null", set("websiteReference", nil), "websiteReference", strict},
		{"customFields not an object", set("customFields", []string{"a"}), "customFields", false},
		{"customFields empty", set("customFields", map[string]any{}), "customFields", strict},
		{"customFields value not a string", set("customFields", map[string]any{"n": 1}), "customFields.n", false},
		{"userKyc not an object", set("userKyc", "Ada"), "userKyc", false},
		{"userKyc dateOfBirth impossible", set("userKyc", map[string]any{"dateOfBirth": "1990-02-30"}), "userKyc.dateOfBirth", false},
		{"userKyc dateOfBirth format", set("userKyc", map[string]any{"dateOfBirth": "10/12/1815"}), "userKyc.dateOfBirth", false},
		{"userKyc field not a string", set("userKyc", map[string]any{"gender": 1}), "userKyc.gender", false},
		{"userKyc citizenship", set("userKyc", map[string]any{"citizenshipCountryCode": "ZZ"}), "userKyc.citizenshipCountryCode", strict},
		{"userKyc unknown field", set("userKyc", map[string]any{"nickname": "A"}), "userKyc.nickname", strict},
		{"unknown field", set("userID", "cust-42"), "userID", strict},
	}
	s, strictSandbox := newSandbox(t), newSandbox(t, withStrict)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest()
			tt.mutate(req)
			body := mustJSON(t, req)
			want := "always"
			if tt.strict {
				want = "strict"
			}
			status, h, b := postCreateFull(t, strictSandbox.URL(), signedHeaders("v1", time.Now(), body), body)
			var e apiError
			json.Unmarshal(b, &e)
			if status != http.StatusBadRequest || e.Field != tt.field || e.Error == "" || h.Get("X-Sandbox-Refusal") != want {
				t.Errorf("strict: got %d (X-Sandbox-Refusal %q) %s, want 400 with field %q, marked %q",
					status, h.Get("X-Sandbox-Refusal"), b, tt.field, want)
			}
			status, b = postCreate(t, s.URL(), signedHeaders("v1", time.Now(), body), body)
			if tt.strict {
				if status != http.StatusOK {
					t.Errorf("default: got %d %s, want 200: only Strict refuses it", status, b)
				}
				return
			}
			e = apiError{}
			json.Unmarshal(b, &e)
			if status != http.StatusBadRequest || e.Field != tt.field || e.Error == "" {
				t.Errorf("default: got %d %s, want 400 with field %q", status, b, tt.field)
			}
		})
	}
	for _, raw := range []string{`{"userId":`, `[1,2]`, `{"userId":"a"} {}`} {
		t.Run("body "+raw, func(t *testing.T) {
			status, b := postCreate(t, strictSandbox.URL(), signedHeaders("v1", time.Now(), []byte(raw)), []byte(raw))
			if status != http.StatusBadRequest {
				t.Errorf("strict: got %d %s, want 400", status, b)
			}
		})
	}
	if n := len(strictSandbox.Sessions()); n != 0 {
		t.Errorf("%d sessions created by invalid requests", n)
	}
	for _, raw := range []string{`{"userId":`, `[1,2]`, `{"userId":"a"} {}`} {
		t.Run("body "+raw, func(t *testing.T) {
			status, b := postCreate(t, s.URL(), signedHeaders("v1", time.Now(), []byte(raw)), []byte(raw))
			if status != http.StatusBadRequest {
				t.Errorf("got %d %s, want 400", status, b)
			}
		})
	}
	strictOnly := 0
	for _, tt := range tests {
		if tt.strict {
			strictOnly++
		}
	}
	if n, want := len(s.Sessions()), strictOnly; n != want {
		t.Errorf("default: %d sessions, want %d (one per case only Strict refuses)", n, want)
	}
}

func TestCreateSessionAmountLimits(t *testing.T) {
	// ok: the default sandbox takes it (the document's limits, exactly, in
	// minor units); okStrict: so does a Strict one (written as paylinks
	// writes amounts: no exponent, no more decimals than the currency has).
	tests := []struct {
		currency, amount string
		ok, okStrict     bool
	}{
		{"EUR", "0.1", true, true},
		{"EUR", "0.10", true, true},
		{"EUR", "10", true, true},
		{"EUR", "10.00", true, true},
		{"EUR", "1.05", true, true},
		{"EUR", "0.09", false, false},
		{"EUR", "10.01", false, false},
		{"EUR", "0", false, false},
		{"EUR", "1.005", false, false},
		{"EUR", "1.000", true, false},
		{"EUR", "10.000", true, false},
		{"EUR", "10.001", false, false},
		{"EUR", "1e1", true, false},
		{"EUR", "1E-1", true, false},
		{"EUR", "1e-2", false, false},
		{"EUR", "105e-2", true, false},
		{"EUR", "1e2", false, false},
		{"JPY", "1", true, true},
		{"JPY", "10", true, true},
		{"JPY", "1.5", false, false},
		{"JPY", "1.0", true, false},
		{"JPY", "0.1", false, false},
		{"KWD", "1.234", true, true},
		{"KWD", "0.100", true, true},
		{"KWD", "1.2345", false, false},
		{"KWD", "1.2340", true, false},
		{"CLF", "9.9999", true, true},
	}
	s, strict := newSandbox(t), newSandbox(t, withStrict)
	for _, tt := range tests {
		for _, mode := range []struct {
			name string
			s    *sandbox.Server
			ok   bool
		}{{"default", s, tt.ok}, {"strict", strict, tt.okStrict}} {
			t.Run(mode.name+" "+tt.currency+" "+tt.amount, func(t *testing.T) {
				req := validRequest()
				req["currency"], req["amount"] = tt.currency, json.Number(tt.amount)
				body := mustJSON(t, req)
				status, b := postCreate(t, mode.s.URL(), signedHeaders("v1", time.Now(), body), body)
				if mode.ok {
					if status != http.StatusOK {
						t.Fatalf("got %d %s, want 200", status, b)
					}
					var cr createResponse
					json.Unmarshal(b, &cr)
					info, err := mode.s.Session(cr.Reference)
					if err != nil || info.Amount != tt.amount {
						t.Errorf("stored amount %q (%v), want %q as received", info.Amount, err, tt.amount)
					}
					return
				}
				var e apiError
				json.Unmarshal(b, &e)
				if status != http.StatusBadRequest || e.Field != "amount" {
					t.Errorf("got %d %s, want 400 with field amount", status, b)
				}
			})
		}
	}
}

func TestCreateSessionTransportChecks(t *testing.T) {
	s, strict := newSandbox(t), newSandbox(t, withStrict)
	body := mustJSON(t, validRequest())

	for _, ct := range []string{"text/plain", ""} {
		h := signedHeaders("v1", time.Now(), body)
		h.Set("Content-Type", ct)
		if status, b := postCreate(t, strict.URL(), h, body); status != http.StatusUnsupportedMediaType {
			t.Errorf("strict, Content-Type %q: got %d %s, want 415", ct, status, b)
		}
	}

	h := signedHeaders("v1", time.Now(), body)
	h.Set("Content-Type", "application/json; charset=utf-8")
	if status, b := postCreate(t, strict.URL(), h, body); status != http.StatusOK {
		t.Errorf("strict, application/json with charset: got %d %s, want 200", status, b)
	}

	req := validRequest()
	req["customFields"] = map[string]any{"padding": strings.Repeat("x", 64<<10)}
	big := mustJSON(t, req)
	for name, srv := range map[string]*sandbox.Server{"default": s, "strict": strict} {
		if status, b := postCreate(t, srv.URL(), signedHeaders("v1", time.Now(), big), big); status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s, 65 KiB body: got %d %s, want 413", name, status, b)
		}
	}
}

func TestCreateSessionIdempotency(t *testing.T) {
	s := newSandbox(t)
	req := validRequest()
	body := mustJSON(t, req)
	first := create(t, s, "v1", body)

	t.Run("same request replays", func(t *testing.T) {
		if again := create(t, s, "v1", body); again != first {
			t.Errorf("replay = %+v, want %+v", again, first)
		}
	})
	t.Run("same content written differently replays", func(t *testing.T) {
		// keys in another order, whitespace, and 7.5 for 7.50
		raw := `{ "amount": 7.5, "errorUrl": "https://shop.example/pay/error", "exitUrl": "https://shop.example/pay/exit",
			"supportUrl": "https://shop.example/support", "successUrl": "https://shop.example/pay/success",
			"currency": "EUR", "userCountryCode": "DE", "userEmail": "ada@example.com", "userId": "cust-42",
			"idempotencyKey": "` + req["idempotencyKey"].(string) + `", "websiteReference": "INV-1001",
			"customFields": {"invoice": "1001"}, "userKyc": {"dateOfBirth": "1815-12-10", "fullName": "Ada Lovelace"} }`
		if again := create(t, s, "v1", []byte(raw)); again != first {
			t.Errorf("replay = %+v, want %+v", again, first)
		}
	})
	t.Run("same key different content conflicts", func(t *testing.T) {
		other := validRequest()
		other["idempotencyKey"] = req["idempotencyKey"]
		other["amount"] = json.Number("9.99")
		b := mustJSON(t, other)
		status, resp := postCreate(t, s.URL(), signedHeaders("v1", time.Now(), b), b)
		var e apiError
		json.Unmarshal(resp, &e)
		if status != http.StatusConflict || e.Field != "idempotencyKey" {
			t.Errorf("got %d %s, want 409 with field idempotencyKey", status, resp)
		}
	})
	t.Run("replay after payment", func(t *testing.T) {
		if err := s.Outcome(first.Reference, sandbox.OutcomePay); err != nil {
			t.Fatal(err)
		}
		if again := create(t, s, "v1", body); again != first {
			t.Errorf("replay = %+v, want %+v", again, first)
		}
	})
	if n := len(s.Sessions()); n != 1 {
		t.Errorf("got %d sessions, want 1", n)
	}

	t.Run("concurrent requests with one key create one session", func(t *testing.T) {
		body := mustJSON(t, validRequest())
		var wg sync.WaitGroup
		refs := make([]string, 6)
		for i := range refs {
			wg.Go(func() {
				status, b := postCreate(t, s.URL(), signedHeaders("v1", time.Now(), body), body)
				var cr createResponse
				json.Unmarshal(b, &cr)
				if status != http.StatusOK {
					t.Errorf("request %d: got %d %s", i, status, b)
				}
				refs[i] = cr.Reference
			})
		}
		wg.Wait()
		for _, r := range refs {
			if r != refs[0] {
				t.Errorf("references %v, want all equal", refs)
				break
			}
		}
		if n := len(s.Sessions()); n != 2 {
			t.Errorf("got %d sessions, want 2", n)
		}
	})

	t.Run("no key creates each time", func(t *testing.T) {
		req := validRequest()
		delete(req, "idempotencyKey")
		b := mustJSON(t, req)
		a1, a2 := create(t, s, "v1", b), create(t, s, "v1", b)
		if a1.Reference == a2.Reference {
			t.Errorf("two creates without key share reference %s", a1.Reference)
		}
	})
}

func TestFailNextCreates(t *testing.T) {
	s := newSandbox(t)
	s.FailNextCreates(2, http.StatusServiceUnavailable)
	body := mustJSON(t, validRequest())
	for i := range 2 {
		if status, b := postCreate(t, s.URL(), signedHeaders("v1", time.Now(), body), body); status != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d: got %d %s, want 503", i+1, status, b)
		}
	}
	if n := len(s.Sessions()); n != 0 {
		t.Fatalf("failed creates stored %d sessions", n)
	}
	create(t, s, "v1", body)
	if n := len(s.Sessions()); n != 1 {
		t.Errorf("got %d sessions, want 1", n)
	}
}

func TestDropNextCreateAfterCommit(t *testing.T) {
	s := newSandbox(t)
	s.DropNextCreateAfterCommit()
	body := mustJSON(t, validRequest())
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/session/hosted", bytes.NewReader(body))
	req.Header = signedHeaders("v1", time.Now(), body)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got response %d, want a connection error", resp.StatusCode)
	}
	sessions := s.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("got %d sessions after the dropped create, want 1 (committed)", len(sessions))
	}
	again := create(t, s, "v1", body)
	if again.Reference != sessions[0].Reference || again.URL != sessions[0].URL {
		t.Errorf("retry got %+v, want the committed session %s", again, sessions[0].Reference)
	}
	if n := len(s.Sessions()); n != 1 {
		t.Errorf("got %d sessions after retry, want 1", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := sandbox.Config{APIKey: "k", APISecret: "s", PartnerPublicKey: &partnerKey().PublicKey, PrivateKey: webhookKey()}
	tests := []struct {
		name   string
		mutate func(*sandbox.Config)
		want   string
	}{
		{"no api key", func(c *sandbox.Config) { c.APIKey = "" }, "APIKey"},
		{"no secret", func(c *sandbox.Config) { c.APISecret = "" }, "APISecret"},
		{"no partner key", func(c *sandbox.Config) { c.PartnerPublicKey = nil }, "PartnerPublicKey"},
		{"bad scheme", func(c *sandbox.Config) { c.Scheme = "v3" }, "Scheme"},
		{"bad family", func(c *sandbox.Config) { c.Family = "modern" }, "Family"},
		{"negative time scale", func(c *sandbox.Config) { c.TimeScale = -1 }, "TimeScale"},
		{"relative public URL", func(c *sandbox.Config) { c.PublicURL = "/pay" }, "PublicURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mutate(&cfg)
			_, err := sandbox.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %v, want an error naming %s", err, tt.want)
			}
		})
	}

	t.Run("generates a signing key", func(t *testing.T) {
		cfg := good
		cfg.PrivateKey = nil
		s, err := sandbox.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !bytes.Contains(s.PublicKeyPEM(), []byte("BEGIN PUBLIC KEY")) {
			t.Errorf("PublicKeyPEM = %q", s.PublicKeyPEM())
		}
	})

	t.Run("start twice, start after close", func(t *testing.T) {
		cfg := good
		cfg.Addr = "127.0.0.1:0"
		s, err := sandbox.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err == nil {
			t.Error("second Start succeeded")
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Start(); !errors.Is(err, sandbox.ErrStopped) {
			t.Errorf("Start after Close = %v, want ErrStopped", err)
		}
	})
}
