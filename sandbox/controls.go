package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Outcomes a customer can choose on the checkout page.
const (
	OutcomePay     = "pay"
	OutcomeFail    = "fail"
	OutcomeAbandon = "abandon"
)

// SessionInfo describes a hosted session.
type SessionInfo struct {
	Reference        string            `json:"reference"`
	IdempotencyKey   string            `json:"idempotencyKey,omitempty"`
	URL              string            `json:"url"`
	Amount           string            `json:"amount"` // the JSON number text as received
	Currency         string            `json:"currency"`
	UserID           string            `json:"userId"`
	UserEmail        string            `json:"userEmail"`
	UserCountryCode  string            `json:"userCountryCode"`
	WebsiteReference string            `json:"websiteReference,omitempty"`
	CustomFields     map[string]string `json:"customFields,omitempty"`
	SuccessURL       string            `json:"successUrl"`
	SupportURL       string            `json:"supportUrl"`
	ExitURL          string            `json:"exitUrl"`
	ErrorURL         string            `json:"errorUrl"`
	Status           string            `json:"status"` // open | paid | failed | abandoned | expired
	DepositReference string            `json:"depositReference,omitempty"`
	EventIDs         []string          `json:"eventIds"`
	ExpiresAt        time.Time         `json:"expiresAt"`
	CreatedAt        time.Time         `json:"createdAt"`
}

func (s *Server) infoLocked(ss *session, now time.Time) SessionInfo {
	ids := make([]string, len(ss.events))
	for i, ev := range ss.events {
		ids[i] = ev.id
	}
	return SessionInfo{
		Reference:        ss.ref,
		IdempotencyKey:   ss.req.IdempotencyKey,
		URL:              ss.url,
		Amount:           string(ss.req.Amount),
		Currency:         ss.req.Currency,
		UserID:           ss.req.UserID,
		UserEmail:        ss.req.UserEmail,
		UserCountryCode:  ss.req.UserCountryCode,
		WebsiteReference: ss.req.WebsiteReference,
		CustomFields:     maps.Clone(ss.req.CustomFields),
		SuccessURL:       ss.req.SuccessURL,
		SupportURL:       ss.req.SupportURL,
		ExitURL:          ss.req.ExitURL,
		ErrorURL:         ss.req.ErrorURL,
		Status:           ss.statusAt(now),
		DepositReference: ss.depositRef,
		EventIDs:         ids,
		ExpiresAt:        ss.expiresAt,
		CreatedAt:        ss.createdAt,
	}
}

// Sessions lists every session, oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]SessionInfo, len(s.sessOrder))
	for i, ss := range s.sessOrder {
		out[i] = s.infoLocked(ss, now)
	}
	return out
}

// Session describes one session.
func (s *Server) Session(ref string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[ref]
	if !ok {
		return SessionInfo{}, fmt.Errorf("%w: session %q", ErrNotFound, ref)
	}
	return s.infoLocked(ss, s.now()), nil
}

// Events lists every webhook event, oldest first.
func (s *Server) Events() []EventInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EventInfo, len(s.eventOrder))
	for i, ev := range s.eventOrder {
		out[i] = EventInfo{ID: ev.id, Type: ev.typ, SessionRef: ev.sessionRef, CreatedAt: ev.createdAt,
			Body: json.RawMessage(slices.Clone(ev.body))}
	}
	return out
}

// Outcome has the same effect as pressing the button on the checkout page:
// "pay" or "fail" emit the family's sequence, "abandon" emits nothing. The
// session must be open (ErrExpired, ErrClosed otherwise).
func (s *Server) Outcome(ref, outcome string) error {
	_, err := s.applyOutcome(ref, outcome)
	return err
}

// applyOutcome returns the URL the customer is sent to.
func (s *Server) applyOutcome(ref, outcome string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[ref]
	if !ok {
		return "", fmt.Errorf("%w: session %q", ErrNotFound, ref)
	}
	switch st := ss.statusAt(s.now()); st {
	case StatusOpen:
	case StatusExpired:
		return "", fmt.Errorf("%w: %s", ErrExpired, ref)
	default:
		return "", fmt.Errorf("%w: %s is %s", ErrClosed, ref, st)
	}
	if outcome != OutcomePay && outcome != OutcomeFail && outcome != OutcomeAbandon {
		return "", fmt.Errorf("%w: outcome %q (want pay, fail or abandon)", ErrInvalid, outcome)
	}
	var types []string
	var to string
	switch outcome {
	case OutcomePay:
		ss.status, types, to = StatusPaid, s.family.success, ss.req.SuccessURL
	case OutcomeFail:
		ss.status, types, to = StatusFailed, s.family.failure, ss.req.ErrorURL
	default:
		ss.status, to = StatusAbandoned, ss.req.ExitURL
	}
	for _, t := range types {
		s.enqueueLocked(s.newJobLocked(s.newEventLocked(ss, t), KindOriginal))
	}
	s.log.Info("checkout outcome", "session", ref, "outcome", outcome, "events", len(types))
	return to, nil
}

// ExpireSession expires an open session now.
func (s *Server) ExpireSession(ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[ref]
	if !ok {
		return fmt.Errorf("%w: session %q", ErrNotFound, ref)
	}
	switch st := ss.statusAt(s.now()); st {
	case StatusOpen:
		ss.status = StatusExpired
		return nil
	case StatusExpired:
		ss.status = StatusExpired
		return nil
	default:
		return fmt.Errorf("%w: %s is %s", ErrClosed, ref, st)
	}
}

// SendInOrder emits events of the given types for the session, in that
// order, whatever its status. A type the session already has an event of is
// sent again as that same event (same id and body); other types get a new
// event. A paying type (v2 accepted/completed, partner reconciled/accepted,
// InwardPaymentReconciled) marks the session paid, else a failing type marks
// it failed. Types must belong to the configured family.
func (s *Server) SendInOrder(ref string, eventTypes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[ref]
	if !ok {
		return fmt.Errorf("%w: session %q", ErrNotFound, ref)
	}
	if len(eventTypes) == 0 {
		return fmt.Errorf("%w: no event types", ErrInvalid)
	}
	known := s.family.types()
	for _, t := range eventTypes {
		if !slices.Contains(known, t) {
			return fmt.Errorf("%w: event type %q is not one of family %s: %s",
				ErrInvalid, t, s.family.name, strings.Join(known, ", "))
		}
	}
	var evs []*event
	for _, t := range eventTypes {
		i := slices.IndexFunc(ss.events, func(ev *event) bool { return ev.typ == t })
		if i >= 0 {
			evs = append(evs, ss.events[i])
		} else {
			evs = append(evs, s.newEventLocked(ss, t))
		}
	}
	switch {
	case slices.ContainsFunc(eventTypes, func(t string) bool { return slices.Contains(s.family.paid, t) }):
		ss.status = StatusPaid
	case slices.ContainsFunc(eventTypes, func(t string) bool { return slices.Contains(s.family.failed, t) }):
		if ss.status != StatusPaid {
			ss.status = StatusFailed
		}
	}
	for _, ev := range evs {
		s.enqueueLocked(s.newJobLocked(ev, KindOriginal))
	}
	return nil
}

// Redeliver sends an event again as a new delivery: same body, fresh
// timestamp and signature, its own retry schedule.
func (s *Server) Redeliver(eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.events[eventID]
	if !ok {
		return fmt.Errorf("%w: event %q", ErrNotFound, eventID)
	}
	s.enqueueLocked(s.newJobLocked(ev, KindRedeliver))
	return nil
}

// Duplicate sends the identical event again as a new delivery: same body
// and, on its first attempt, the same StableMint-Timestamp and
// StableMint-Signature as the event's last correctly signed attempt (fresh
// ones if it was never sent), as a network-level duplicate would be.
func (s *Server) Duplicate(eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.events[eventID]
	if !ok {
		return fmt.Errorf("%w: event %q", ErrNotFound, eventID)
	}
	j := s.newJobLocked(ev, KindDuplicate)
	j.replayTS, j.replaySig = ev.lastTimestamp, ev.lastSignature
	s.enqueueLocked(j)
	return nil
}

// CorruptNextSignature makes the next webhook request that is actually sent
// carry a well-formed signature that does not verify. Its retry is signed
// correctly.
func (s *Server) CorruptNextSignature() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corruptNext = true
}

// FailNextDeliveries makes the next n attempts fail without being sent; each
// counts as a failed attempt and is retried on schedule. n <= 0 clears it.
func (s *Server) FailNextDeliveries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failDeliveries = max(n, 0)
}

// FailNextCreates makes the next n POST /session/hosted answer status
// (before any check, creating nothing). n <= 0 clears it; a status outside
// 400-599 means 503.
func (s *Server) FailNextCreates(n int, status int) {
	if status < 400 || status > 599 {
		status = http.StatusServiceUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCreates, s.failCreateStatus = max(n, 0), status
}

// SlowNextCreates makes the next n POST /session/hosted wait d before
// they are handled, as a slow StableMint would (the caller's timeout, or
// its going away, ends the wait). n <= 0 clears it.
func (s *Server) SlowNextCreates(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowCreates, s.slowCreateDelay = max(n, 0), max(d, 0)
}

func (s *Server) takeCreateDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slowCreates == 0 {
		return 0
	}
	s.slowCreates--
	return s.slowCreateDelay
}

// DropNextCreateAfterCommit makes the next POST /session/hosted that creates
// a session store it and then close the connection without answering.
func (s *Server) DropNextCreateAfterCommit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNextCreate = true
}

// HTTP side of the controls.

// controlStatus maps a control error to an HTTP status.
func controlStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrExpired), errors.Is(err, ErrClosed):
		return http.StatusConflict
	default:
		return http.StatusInternalServerError
	}
}

func writeControlResult(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, controlStatus(err), refusalControl, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// decodeControl reads a small JSON body into v. An empty body leaves v as is.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, refusalControl, "", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Sessions())
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	info, err := s.Session(r.PathValue("ref"))
	if err != nil {
		writeControlResult(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Events())
}

func (s *Server) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Deliveries())
}

func (s *Server) handleOutcome(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Outcome string `json:"outcome"`
	}
	if decodeControl(w, r, &in) {
		writeControlResult(w, s.Outcome(r.PathValue("ref"), in.Outcome))
	}
}

func (s *Server) handleExpire(w http.ResponseWriter, r *http.Request) {
	writeControlResult(w, s.ExpireSession(r.PathValue("ref")))
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Events []string `json:"events"`
	}
	if decodeControl(w, r, &in) {
		writeControlResult(w, s.SendInOrder(r.PathValue("ref"), in.Events))
	}
}

func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	writeControlResult(w, s.Redeliver(r.PathValue("id")))
}

func (s *Server) handleDuplicate(w http.ResponseWriter, r *http.Request) {
	writeControlResult(w, s.Duplicate(r.PathValue("id")))
}

func (s *Server) handleCorrupt(w http.ResponseWriter, r *http.Request) {
	s.CorruptNextSignature()
	writeControlResult(w, nil)
}

func (s *Server) handleFailDeliveries(w http.ResponseWriter, r *http.Request) {
	in := struct {
		N int `json:"n"`
	}{N: 1}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.N < 0 {
		writeError(w, http.StatusBadRequest, refusalControl, "n", "must not be negative")
		return
	}
	s.FailNextDeliveries(in.N)
	writeControlResult(w, nil)
}

func (s *Server) handleFailCreates(w http.ResponseWriter, r *http.Request) {
	in := struct {
		N      int `json:"n"`
		Status int `json:"status"`
	}{N: 1, Status: http.StatusServiceUnavailable}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.N < 0 {
		writeError(w, http.StatusBadRequest, refusalControl, "n", "must not be negative")
		return
	}
	if in.Status < 400 || in.Status > 599 {
		writeError(w, http.StatusBadRequest, refusalControl, "status", "must be an HTTP error status (400-599)")
		return
	}
	s.FailNextCreates(in.N, in.Status)
	writeControlResult(w, nil)
}

func (s *Server) handleSlowCreates(w http.ResponseWriter, r *http.Request) {
	in := struct {
		N  int `json:"n"`
		MS int `json:"ms"`
	}{N: 1}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.N < 0 || in.MS < 0 || in.MS > 600_000 {
		writeError(w, http.StatusBadRequest, refusalControl, "ms", "n and ms must not be negative; ms at most 600000")
		return
	}
	s.SlowNextCreates(in.N, time.Duration(in.MS)*time.Millisecond)
	writeControlResult(w, nil)
}

func (s *Server) handleDropCreate(w http.ResponseWriter, r *http.Request) {
	s.DropNextCreateAfterCommit()
	writeControlResult(w, nil)
}

func (s *Server) handleWebhookURL(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL string `json:"url"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.URL != "" && !absoluteHTTPURL(in.URL) {
		writeError(w, http.StatusBadRequest, refusalControl, "url", "must be an absolute http(s) URL, or empty to stop delivery")
		return
	}
	s.SetWebhookURL(in.URL)
	writeControlResult(w, nil)
}
