package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

const (
	maxCreateBody   = 64 << 10        // a guard of the sandbox's own, in both modes
	timestampWindow = 5 * time.Minute // Strict only
)

// Session statuses.
const (
	StatusOpen      = "open"
	StatusPaid      = "paid"
	StatusFailed    = "failed"
	StatusAbandoned = "abandoned"
	StatusExpired   = "expired"
)

// session is one hosted session. Guarded by Server.mu.
type session struct {
	ref         string
	req         *createRequest
	fingerprint string
	url         string
	createdAt   time.Time
	expiresAt   time.Time // whole seconds, as answered
	status      string    // as set; see statusAt
	depositRef  string
	endToEndID  string
	externalID  string
	events      []*event
	response    createResponse
}

// statusAt is the session's status at now: an open session past expiresAt
// is expired.
func (ss *session) statusAt(now time.Time) string {
	if ss.status == StatusOpen && !now.Before(ss.expiresAt) {
		return StatusExpired
	}
	return ss.status
}

type createResponse struct {
	URL       string `json:"url"`
	ExpiresAt int64  `json:"expiresAt"`
	Reference string `json:"reference"`
}

// authHeaders are the header names of a signing scheme.
type authHeaders struct{ key, timestamp, signature string }

var schemeHeaders = map[string]authHeaders{
	"v1": {"api_key", "timestamp", "signature"},
	"v2": {"ApiKey", "Timestamp", "Signature"},
}

// handleCreate is POST /session/hosted. Order: injected failure, auth
// headers (401), body size (413), signature (401), the body by the
// document's rules (400); then, with Strict only, the timestamp window
// (401), Content-Type (415) and the body by paylinks' stricter rules (400);
// then idempotency (409 or replay) and the create. Checking every rule of
// the document before any strict one means that a refusal marked "strict"
// is always one the default sandbox would have accepted.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if d := s.takeCreateDelay(); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if status, ok := s.takeCreateFailure(); ok {
		writeError(w, status, refusalInjected, "", "sandbox: injected failure")
		return
	}
	h := schemeHeaders[s.scheme]
	ts, aerr := s.checkAuthHeaders(r, h)
	if aerr != nil {
		writeError(w, http.StatusUnauthorized, refusalAlways, aerr.Field, aerr.Msg)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCreateBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, refusalAlways, "", fmt.Sprintf("body larger than %d bytes", maxCreateBody))
			return
		}
		writeError(w, http.StatusBadRequest, refusalAlways, "", "could not read body")
		return
	}
	if aerr := s.checkSignature(r.Header.Get(h.signature), h.signature, s.signedString(ts, body)); aerr != nil {
		writeError(w, http.StatusUnauthorized, refusalAlways, aerr.Field, aerr.Msg)
		return
	}
	req, ferr := parseCreateRequest(body, false)
	if ferr != nil {
		writeError(w, http.StatusBadRequest, refusalAlways, ferr.Field, ferr.Error())
		return
	}
	if s.strict {
		if aerr := s.checkTimestampWindow(ts, h); aerr != nil {
			writeError(w, http.StatusUnauthorized, refusalStrict, aerr.Field, aerr.Msg)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, refusalStrict, "Content-Type", "must be application/json")
			return
		}
		if _, ferr := parseCreateRequest(body, true); ferr != nil {
			writeError(w, http.StatusBadRequest, refusalStrict, ferr.Field, ferr.Error())
			return
		}
	}

	resp, created, drop, err := s.createSession(req, s.checkoutBase(r))
	if err != nil {
		writeError(w, http.StatusConflict, refusalAlways, "idempotencyKey", err.Error())
		return
	}
	if drop {
		s.log.Info("dropping create response after commit", "reference", resp.Reference)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or no hijacker: abort the stream instead
	}
	if created {
		s.log.Info("session created", "reference", resp.Reference)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) takeCreateFailure() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCreates == 0 {
		return 0, false
	}
	s.failCreates--
	return s.failCreateStatus, true
}

// checkAuthHeaders checks that the scheme's headers are present, the API key
// is the configured one and the timestamp is a Unix time written in digits.
// It returns the timestamp text as sent, which is what was signed.
func (s *Server) checkAuthHeaders(r *http.Request, h authHeaders) (string, *fieldError) {
	for _, name := range []string{h.key, h.timestamp, h.signature} {
		if r.Header.Get(name) == "" {
			return "", &fieldError{name, fmt.Sprintf("missing header %s (signing scheme %s)", name, s.scheme)}
		}
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(h.key)), []byte(s.apiKey)) != 1 {
		return "", &fieldError{h.key, "unknown API key"}
	}
	ts := r.Header.Get(h.timestamp)
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || ts[0] < '0' || ts[0] > '9' {
		return "", &fieldError{h.timestamp, "must be a Unix time in whole " + s.timestampUnit()}
	}
	return ts, nil
}

// checkTimestampWindow (Strict only; the document names no window) wants the
// timestamp, read in the scheme's unit, within ±timestampWindow of now.
func (s *Server) checkTimestampWindow(ts string, h authHeaders) *fieldError {
	n, _ := strconv.ParseInt(ts, 10, 64) // checkAuthHeaders parsed it
	t := time.Unix(n, 0)
	if s.scheme == "v1" {
		t = time.UnixMilli(n)
	}
	if d := s.now().Sub(t); d > timestampWindow || d < -timestampWindow {
		return &fieldError{h.timestamp, fmt.Sprintf("more than %v away from the server's clock (Unix %s expected)", timestampWindow, s.timestampUnit())}
	}
	return nil
}

func (s *Server) timestampUnit() string {
	if s.scheme == "v1" {
		return "milliseconds"
	}
	return "seconds"
}

// signedString is what the partner signs: v1 "<timestamp>,<secret>,<userId>"
// with userId read from the body ("" if the body has no string userId), v2
// "<timestamp>,<secret>,<raw body>".
func (s *Server) signedString(ts string, body []byte) []byte {
	prefix := ts + "," + s.apiSecret + ","
	if s.scheme == "v2" {
		return append([]byte(prefix), body...)
	}
	var b struct {
		UserID any `json:"userId"`
	}
	_ = json.Unmarshal(body, &b)
	uid, _ := b.UserID.(string)
	return []byte(prefix + uid)
}

func (s *Server) checkSignature(sig, header string, signed []byte) *fieldError {
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil {
		return &fieldError{header, "is not standard Base64"}
	}
	sum := sha256.Sum256(signed)
	if rsa.VerifyPKCS1v15(s.partnerKey, crypto.SHA256, sum[:], raw) != nil {
		return &fieldError{header, "does not verify with the partner public key"}
	}
	return nil
}

// errIdemConflict: same idempotency key, different request content.
var errIdemConflict = errors.New("idempotencyKey was already used with a different request")

// createSession stores a new session, or returns the original one for a
// replayed idempotency key. drop reports that this create consumed
// DropNextCreateAfterCommit.
func (s *Server) createSession(req *createRequest, base string) (resp createResponse, created, drop bool, err error) {
	fp := req.fingerprint()
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.IdempotencyKey != "" {
		if old, ok := s.byIdemKey[req.IdempotencyKey]; ok {
			if old.fingerprint != fp {
				return createResponse{}, false, false, errIdemConflict
			}
			return old.response, false, false, nil
		}
	}
	now := s.now()
	ref := newID("HS", 20)
	ss := &session{
		ref:         ref,
		req:         req,
		fingerprint: fp,
		url:         base + "/checkout/" + ref,
		createdAt:   now,
		expiresAt:   now.Add(s.ttl).Truncate(time.Second),
		status:      StatusOpen,
	}
	ss.response = createResponse{URL: ss.url, ExpiresAt: ss.expiresAt.Unix(), Reference: ref}
	s.sessions[ref] = ss
	s.sessOrder = append(s.sessOrder, ss)
	if req.IdempotencyKey != "" {
		s.byIdemKey[req.IdempotencyKey] = ss
	}
	drop = s.dropNextCreate
	s.dropNextCreate = false
	return ss.response, true, drop, nil
}

// newID is prefix followed by n random characters of an unambiguous upper
// case alphabet.
func newID(prefix string, n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // 32 symbols
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return prefix + string(b)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
