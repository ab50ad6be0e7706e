package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/sandbox"
)

// allowedCase is a create request that StableMint's document allows but
// that paylinks' own stricter conventions refuse: the default sandbox
// accepts it, a Strict one refuses it.
type allowedCase struct {
	name   string
	scheme string                                                      // "" = v1
	mutate func(req map[string]any)                                    // nil = validRequest as is
	header func(h http.Header, body []byte, scheme string) http.Header // nil = signed now, application/json
	field  string                                                      // what a Strict sandbox names
	status int                                                         // what a Strict sandbox answers; 0 = 400
	check  func(t *testing.T, got sandbox.SessionInfo)                 // what the default sandbox stored
}

func setField(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

func signedAt(d time.Duration) func(http.Header, []byte, string) http.Header {
	return func(_ http.Header, body []byte, scheme string) http.Header {
		return signedHeaders(scheme, time.Now().Add(d), body)
	}
}

func contentType(v string) func(http.Header, []byte, string) http.Header {
	return func(h http.Header, _ []byte, _ string) http.Header {
		if v == "" {
			h.Del("Content-Type")
		} else {
			h.Set("Content-Type", v)
		}
		return h
	}
}

func wantCustomFields(want map[string]string) func(*testing.T, sandbox.SessionInfo) {
	return func(t *testing.T, got sandbox.SessionInfo) {
		t.Helper()
		if len(got.CustomFields) != len(want) {
			t.Errorf("customFields = %v, want %v", got.CustomFields, want)
		}
		for k, v := range want {
			if got.CustomFields[k] != v {
				t.Errorf("customFields = %v, want %v", got.CustomFields, want)
			}
		}
	}
}

func wantAmount(text string) func(*testing.T, sandbox.SessionInfo) {
	return func(t *testing.T, got sandbox.SessionInfo) {
		t.Helper()
		if got.Amount != text {
			t.Errorf("amount = %q, want %q as received", got.Amount, text)
		}
	}
}

func wantNo(field string) func(*testing.T, sandbox.SessionInfo) {
	return func(t *testing.T, got sandbox.SessionInfo) {
		t.Helper()
		var v string
		switch field {
		case "idempotencyKey":
			v = got.IdempotencyKey
		case "websiteReference":
			v = got.WebsiteReference
		}
		if v != "" {
			t.Errorf("%s = %q, want none (an empty value is an absent one)", field, v)
		}
	}
}

// documentAllows lists, one case each, what the document allows and the
// strict checks refuse (issue #16: the sandbox used to refuse all of them).
func documentAllows() []allowedCase {
	kyc := func(m map[string]any) func(map[string]any) { return setField("userKyc", m) }
	return []allowedCase{
		{name: "customFields {} (the document's own example)", mutate: setField("customFields", map[string]any{}),
			field: "customFields", check: wantCustomFields(nil)},
		{name: "customFields null", mutate: setField("customFields", nil), field: "customFields", check: wantCustomFields(nil)},
		{name: "customFields empty string", mutate: setField("customFields", ""), field: "customFields", check: wantCustomFields(nil)},
		{name: "customFields with an empty key", mutate: setField("customFields", map[string]any{"": "x"}),
			field: "customFields", check: wantCustomFields(map[string]string{"": "x"})},
		{name: "idempotencyKey empty", mutate: setField("idempotencyKey", ""), field: "idempotencyKey", check: wantNo("idempotencyKey")},
		{name: "idempotencyKey null", mutate: setField("idempotencyKey", nil), field: "idempotencyKey", check: wantNo("idempotencyKey")},
		{name: "idempotencyKey of 256 characters", mutate: setField("idempotencyKey", strings.Repeat("k", 256)),
			field: "idempotencyKey"},
		{name: "websiteReference empty", mutate: setField("websiteReference", ""), field: "websiteReference", check: wantNo("websiteReference")},
		{name: "websiteReference null", mutate: setField("websiteReference", nil), field: "websiteReference", check: wantNo("websiteReference")},
		{name: "userKyc {}", mutate: kyc(map[string]any{}), field: "userKyc"},
		{name: "userKyc null", mutate: setField("userKyc", nil), field: "userKyc"},
		{name: "userKyc field empty", mutate: kyc(map[string]any{"fullName": "Ada", "gender": ""}), field: "userKyc.gender"},
		{name: "userKyc field null", mutate: kyc(map[string]any{"fullName": "Ada", "gender": nil}), field: "userKyc.gender"},
		{name: "userKyc unknown field", mutate: kyc(map[string]any{"fullName": "Ada", "nickname": "A"}), field: "userKyc.nickname"},
		{name: "userKyc citizenshipCountryCode alpha-3", mutate: kyc(map[string]any{"citizenshipCountryCode": "DEU"}),
			field: "userKyc.citizenshipCountryCode"},
		{name: "unknown field", mutate: setField("channel", "web"), field: "channel"},
		{name: "amount with exponent 1e1", mutate: setField("amount", json.Number("1e1")), field: "amount", check: wantAmount("1e1")},
		{name: "amount with exponent 7.5E0", mutate: setField("amount", json.Number("7.5E0")), field: "amount", check: wantAmount("7.5E0")},
		{name: "amount 9.500 EUR (extra zeros)", mutate: setField("amount", json.Number("9.500")), field: "amount", check: wantAmount("9.500")},
		{name: "amount 1.0 JPY (extra zero)", mutate: func(m map[string]any) { m["currency"], m["amount"] = "JPY", json.Number("1.0") },
			field: "amount", check: wantAmount("1.0")},
		{name: "userEmail with a display name", mutate: setField("userEmail", "Ada <ada@example.com>"), field: "userEmail"},
		{name: "supportUrl ftp", mutate: setField("supportUrl", "ftp://shop.example/support"), field: "supportUrl"},
		{name: "Content-Type missing", header: contentType(""), field: "Content-Type", status: http.StatusUnsupportedMediaType},
		{name: "Content-Type text/plain", header: contentType("text/plain"), field: "Content-Type", status: http.StatusUnsupportedMediaType},
		{name: "v1 timestamp 10 minutes old", header: signedAt(-10 * time.Minute), field: "timestamp", status: http.StatusUnauthorized},
		{name: "v1 timestamp 10 minutes ahead", header: signedAt(10 * time.Minute), field: "timestamp", status: http.StatusUnauthorized},
		{name: "v2 timestamp an hour old", scheme: "v2", header: signedAt(-time.Hour), field: "Timestamp", status: http.StatusUnauthorized},
		{name: "v1 timestamp in seconds", header: func(_ http.Header, body []byte, _ string) http.Header {
			h := signedHeaders("v1", time.Now(), body)
			ts := h.Get("timestamp")
			ts = ts[:len(ts)-3]
			h.Set("timestamp", ts)
			h.Set("signature", signWith(partnerKey(), ts+","+testAPISecret+","+userIDOf(body)))
			return h
		}, field: "timestamp", status: http.StatusUnauthorized},
	}
}

// send builds the case's request and posts it to s.
func (c allowedCase) send(t *testing.T, s *sandbox.Server) (int, http.Header, []byte) {
	t.Helper()
	scheme := c.scheme
	if scheme == "" {
		scheme = "v1"
	}
	req := validRequest()
	if c.mutate != nil {
		c.mutate(req)
	}
	body := mustJSON(t, req)
	h := signedHeaders(scheme, time.Now(), body)
	if c.header != nil {
		h = c.header(h, body, scheme)
	}
	return postCreateFull(t, s.URL(), h, body)
}

func TestCreateAcceptsWhatTheDocumentAllows(t *testing.T) {
	servers := map[string]*sandbox.Server{"v1": newSandbox(t), "v2": newSandbox(t, withScheme("v2"))}
	for _, c := range documentAllows() {
		t.Run(c.name, func(t *testing.T) {
			s := servers[c.scheme]
			if s == nil {
				s = servers["v1"]
			}
			status, _, b := c.send(t, s)
			if status != http.StatusOK {
				t.Fatalf("got %d %s, want 200: the document allows it", status, b)
			}
			var cr createResponse
			if err := json.Unmarshal(b, &cr); err != nil {
				t.Fatal(err)
			}
			got, err := s.Session(cr.Reference)
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

// A Strict sandbox keeps paylinks' stricter conventions: it refuses each of
// those cases, naming the field and marking the refusal "strict".
func TestStrictRefusesWhatOnlyPaylinksForbids(t *testing.T) {
	servers := map[string]*sandbox.Server{"v1": newSandbox(t, withStrict), "v2": newSandbox(t, withScheme("v2"), withStrict)}
	for _, c := range documentAllows() {
		t.Run(c.name, func(t *testing.T) {
			s := servers[c.scheme]
			if s == nil {
				s = servers["v1"]
			}
			want := c.status
			if want == 0 {
				want = http.StatusBadRequest
			}
			status, h, b := c.send(t, s)
			var e apiError
			json.Unmarshal(b, &e)
			if status != want || e.Field != c.field || !e.Sandbox || e.Refusal != "strict" || h.Get("X-Sandbox-Refusal") != "strict" {
				t.Errorf("got %d (X-Sandbox-Refusal %q) %s, want %d naming %q, marked strict",
					status, h.Get("X-Sandbox-Refusal"), b, want, c.field)
			}
		})
	}
	for name, s := range servers {
		if n := len(s.Sessions()); n != 0 {
			t.Errorf("%s: %d sessions created", name, n)
		}
	}
}

// customFields may be sent as a JSON-encoded string (the document's schema
// says "string"); the session holds the object it encodes, and the same
// content as an object replays the session.
func TestCreateCustomFieldsAsString(t *testing.T) {
	s := newSandbox(t)
	req := validRequest()
	asObject := mustJSON(t, req)
	req["customFields"] = `{"invoice":"1001"}`
	first := create(t, s, "v1", mustJSON(t, req))
	got, err := s.Session(first.Reference)
	if err != nil {
		t.Fatal(err)
	}
	wantCustomFields(map[string]string{"invoice": "1001"})(t, got)
	if again := create(t, s, "v1", asObject); again != first {
		t.Errorf("the same fields as an object = %+v, want the replay of %+v", again, first)
	}
	strict := newSandbox(t, withStrict)
	req["customFields"] = `{"invoice":"1001"}`
	create(t, strict, "v1", mustJSON(t, req)) // paylinks itself may send the string form
	req["customFields"] = `{}`
	empty := mustJSON(t, req)
	status, h, b := postCreateFull(t, strict.URL(), signedHeaders("v1", time.Now(), empty), empty)
	if status != http.StatusBadRequest || h.Get("X-Sandbox-Refusal") != "strict" {
		t.Errorf("strict, customFields \"{}\": got %d %s, want 400 marked strict", status, b)
	}
	for _, bad := range []string{"invoice=1001", `["a"]`, `{"n":1}`} {
		req["customFields"] = bad
		body := mustJSON(t, req)
		status, _, b := postCreateFull(t, s.URL(), signedHeaders("v1", time.Now(), body), body)
		var e apiError
		json.Unmarshal(b, &e)
		if status != http.StatusBadRequest || !strings.HasPrefix(e.Field, "customFields") {
			t.Errorf("customFields %q: got %d %s, want 400 naming customFields", bad, status, b)
		}
	}
}

// An amount is never changed on the way in: a value with more precision
// than the currency's minor unit is refused, never rounded.
func TestCreateNeverRoundsAnAmount(t *testing.T) {
	s := newSandbox(t)
	for _, tt := range []struct{ currency, amount string }{
		{"EUR", "1.005"}, {"EUR", "1e-3"}, {"EUR", "9.5001"}, {"JPY", "1.5"}, {"JPY", "15e-1"}, {"KWD", "1.2345"},
		{"EUR", "1e400"}, {"EUR", "1e-400"}, {"EUR", "1e999999999"},
	} {
		t.Run(tt.currency+" "+tt.amount, func(t *testing.T) {
			req := validRequest()
			req["currency"], req["amount"] = tt.currency, json.Number(tt.amount)
			body := mustJSON(t, req)
			status, _, b := postCreateFull(t, s.URL(), signedHeaders("v1", time.Now(), body), body)
			var e apiError
			json.Unmarshal(b, &e)
			if status != http.StatusBadRequest || e.Field != "amount" {
				t.Errorf("got %d %s, want 400 naming amount", status, b)
			}
		})
	}
	if n := len(s.Sessions()); n != 0 {
		t.Errorf("%d sessions created", n)
	}
}

// Every refusal says it comes from the sandbox, in a header and in the
// body, so that nobody takes it for StableMint's.
func TestRefusalsSayTheyAreTheSandbox(t *testing.T) {
	s := newSandbox(t)
	body := mustJSON(t, validRequest())
	create(t, s, "v1", body)
	other := validRequest()
	other["idempotencyKey"] = validRequestKey(body)
	other["amount"] = json.Number("9.99")
	conflict := mustJSON(t, other)
	badAmount := validRequest()
	badAmount["amount"] = json.Number("50")
	tooBig := validRequest()
	tooBig["customFields"] = map[string]any{"padding": strings.Repeat("x", 64<<10)}

	tests := []struct {
		name   string
		before func()
		header http.Header
		body   []byte
		status int
	}{
		{"unknown API key", nil, func() http.Header {
			h := signedHeaders("v1", time.Now(), body)
			h.Set("api_key", "pk_other")
			return h
		}(), body, http.StatusUnauthorized},
		{"invalid amount", nil, signedHeaders("v1", time.Now(), mustJSON(t, badAmount)), mustJSON(t, badAmount), http.StatusBadRequest},
		{"idempotency conflict", nil, signedHeaders("v1", time.Now(), conflict), conflict, http.StatusConflict},
		{"body too large", nil, signedHeaders("v1", time.Now(), mustJSON(t, tooBig)), mustJSON(t, tooBig), http.StatusRequestEntityTooLarge},
		{"injected failure", func() { s.FailNextCreates(1, http.StatusServiceUnavailable) }, signedHeaders("v1", time.Now(), body), body,
			http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, h, b := postCreateFull(t, s.URL(), tt.header, tt.body)
			if status != tt.status {
				t.Fatalf("got %d %s, want %d", status, b, tt.status)
			}
			if h.Get("X-Sandbox-Refusal") == "" {
				t.Errorf("no X-Sandbox-Refusal header: %v", h)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["sandbox"] != true {
				t.Errorf("body %s: want \"sandbox\": true (%v)", b, err)
			}
			if !strings.HasPrefix(string(b), `{"sandbox":true`) {
				t.Errorf("body %s: want it to start with the marker, which is what staff see first", b)
			}
		})
	}
}

// validRequestKey is the idempotency key in a create body.
func validRequestKey(body []byte) string {
	var m map[string]any
	json.Unmarshal(body, &m)
	k, _ := m["idempotencyKey"].(string)
	return k
}
