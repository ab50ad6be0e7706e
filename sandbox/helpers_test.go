package sandbox_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/sandbox"
)

const (
	testAPIKey    = "pk_test_paylinks"
	testAPISecret = "sk_test_secret"
)

// RSA keys are generated once per test binary.
var (
	partnerKey = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
	webhookKey = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
)

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// newSandbox starts a sandbox on a loopback port, closed at cleanup.
func newSandbox(t *testing.T, opts ...func(*sandbox.Config)) *sandbox.Server {
	t.Helper()
	cfg := sandbox.Config{
		Addr:             "127.0.0.1:0",
		APIKey:           testAPIKey,
		APISecret:        testAPISecret,
		PartnerPublicKey: &partnerKey().PublicKey,
		PrivateKey:       webhookKey(),
		TimeScale:        0.0001, // 5 min -> 30 ms
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := sandbox.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func withScheme(v string) func(*sandbox.Config) { return func(c *sandbox.Config) { c.Scheme = v } }
func withFamily(v string) func(*sandbox.Config) { return func(c *sandbox.Config) { c.Family = v } }

// withStrict makes a sandbox that keeps paylinks' stricter conventions.
func withStrict(c *sandbox.Config) { c.Strict = true }

// validRequest is a complete, valid create body.
func validRequest() map[string]any {
	return map[string]any{
		"userId":           "cust-42",
		"userEmail":        "ada@example.com",
		"userCountryCode":  "DE",
		"currency":         "EUR",
		"amount":           json.Number("7.50"),
		"successUrl":       "https://shop.example/pay/success",
		"supportUrl":       "https://shop.example/support",
		"exitUrl":          "https://shop.example/pay/exit",
		"errorUrl":         "https://shop.example/pay/error",
		"idempotencyKey":   uuid.NewString(),
		"websiteReference": "INV-1001",
		"customFields":     map[string]any{"invoice": "1001"},
		"userKyc":          map[string]any{"fullName": "Ada Lovelace", "dateOfBirth": "1815-12-10"},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signWith(key *rsa.PrivateKey, msg string) string {
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// userIDOf is what a v1 client signs: the body's userId string, or "".
func userIDOf(body []byte) string {
	var m map[string]any
	json.Unmarshal(body, &m)
	s, _ := m["userId"].(string)
	return s
}

// signedHeaders are correct request headers for scheme at time now.
func signedHeaders(scheme string, now time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if scheme == "v2" {
		ts := strconv.FormatInt(now.Unix(), 10)
		h.Set("ApiKey", testAPIKey)
		h.Set("Timestamp", ts)
		h.Set("Signature", signWith(partnerKey(), ts+","+testAPISecret+","+string(body)))
		return h
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	h.Set("api_key", testAPIKey)
	h.Set("timestamp", ts)
	h.Set("signature", signWith(partnerKey(), ts+","+testAPISecret+","+userIDOf(body)))
	return h
}

type apiError struct {
	Sandbox bool   `json:"sandbox"`
	Refusal string `json:"refusal"`
	Error   string `json:"error"`
	Field   string `json:"field"`
}

type createResponse struct {
	URL       string `json:"url"`
	ExpiresAt int64  `json:"expiresAt"`
	Reference string `json:"reference"`
}

// postCreate sends POST /session/hosted with the given headers.
func postCreate(t *testing.T, base string, h http.Header, body []byte) (int, []byte) {
	t.Helper()
	status, _, b := postCreateFull(t, base, h, body)
	return status, b
}

// postCreateFull is postCreate that also returns the response headers.
func postCreateFull(t *testing.T, base string, h http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/session/hosted", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /session/hosted: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// create signs and sends body with the sandbox's scheme and wants 200.
func create(t *testing.T, s *sandbox.Server, scheme string, body []byte) createResponse {
	t.Helper()
	status, b := postCreate(t, s.URL(), signedHeaders(scheme, time.Now(), body), body)
	if status != http.StatusOK {
		t.Fatalf("create: got %d %s, want 200", status, b)
	}
	var cr createResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		t.Fatalf("create response %s: %v", b, err)
	}
	return cr
}

// createValid creates a session from validRequest (v1).
func createValid(t *testing.T, s *sandbox.Server) createResponse {
	t.Helper()
	return create(t, s, "v1", mustJSON(t, validRequest()))
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// press submits the checkout form with outcome.
func press(t *testing.T, checkoutURL, outcome string) *http.Response {
	t.Helper()
	resp, err := noRedirect.PostForm(checkoutURL, map[string][]string{"outcome": {outcome}})
	if err != nil {
		t.Fatalf("POST checkout: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// received is one webhook request seen by a receiver.
type received struct {
	Body      []byte
	Timestamp string
	Signature string
	Verified  bool
	Type      string
	Status    int
}

// receiver is a webhook endpoint that verifies every signature with the
// public key fetched from the sandbox's /_sandbox/public-key.pem and answers
// 401 to a bad one, else status(n) for its n-th request (1-based).
type receiver struct {
	srv    *httptest.Server
	pub    *rsa.PublicKey
	status func(n int) int
	mu     sync.Mutex
	got    []received
}

func newReceiver(t *testing.T, s *sandbox.Server, status func(n int) int) *receiver {
	t.Helper()
	resp, err := http.Get(s.URL() + "/_sandbox/public-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("public-key.pem: no PUBLIC KEY block in %q", pemBytes)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if status == nil {
		status = func(int) int { return http.StatusOK }
	}
	r := &receiver{pub: k.(*rsa.PublicKey), status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	s.SetWebhookURL(r.srv.URL + "/webhooks/stablemint")
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := received{
		Body:      body,
		Timestamp: req.Header.Get("StableMint-Timestamp"),
		Signature: req.Header.Get("StableMint-Signature"),
		Type:      eventType(body),
	}
	if sig, err := base64.StdEncoding.Strict().DecodeString(rec.Signature); err == nil {
		sum := sha256.Sum256(append([]byte(rec.Timestamp+","), body...))
		rec.Verified = rsa.VerifyPKCS1v15(r.pub, crypto.SHA256, sum[:], sig) == nil
	}
	if _, err := time.Parse(time.RFC3339, rec.Timestamp); err != nil {
		rec.Verified = false
	}
	r.mu.Lock()
	if rec.Verified {
		rec.Status = r.status(len(r.got) + 1)
	} else {
		rec.Status = http.StatusUnauthorized
	}
	r.got = append(r.got, rec)
	r.mu.Unlock()
	w.WriteHeader(rec.Status)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// acked is the types of the verified, 2xx-answered requests, in order.
func (r *receiver) acked() []string {
	var out []string
	for _, g := range r.received() {
		if g.Verified && g.Status/100 == 2 {
			out = append(out, g.Type)
		}
	}
	return out
}

func (r *receiver) waitCount(t *testing.T, n int) []received {
	t.Helper()
	testkit.WaitFor(t, strconv.Itoa(n)+" webhook requests", func() bool { return len(r.received()) >= n })
	return r.received()
}

// eventType reads the type of any family's body.
func eventType(body []byte) string {
	var m struct {
		NotificationType string `json:"notificationType"`
		Data             struct {
			EventType string `json:"eventType"`
		} `json:"data"`
	}
	json.Unmarshal(body, &m)
	if m.NotificationType != "" {
		return m.NotificationType
	}
	return m.Data.EventType
}

func v2Types(stages ...string) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = "partner.customer.deposit." + s
	}
	return out
}
