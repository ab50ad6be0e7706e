package sandbox

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// retryDelays is StableMint's documented schedule after a failed attempt,
// before scaling by TimeScale: six attempts in all, then it gives up.
var retryDelays = []time.Duration{
	5 * time.Minute, 10 * time.Minute, 30 * time.Minute, 60 * time.Minute, 90 * time.Minute,
}

// Kinds of delivery.
const (
	KindOriginal  = "original"  // emitted by an outcome or SendInOrder
	KindRedeliver = "redeliver" // Redeliver: same body, freshly signed
	KindDuplicate = "duplicate" // Duplicate: the identical request again
)

// Delivery records one webhook delivery attempt.
type Delivery struct {
	DeliveryID       string    `json:"deliveryId"` // one per delivery; its retries share it
	Kind             string    `json:"kind"`
	EventID          string    `json:"eventId"`
	EventType        string    `json:"eventType"`
	SessionRef       string    `json:"sessionRef"`
	Attempt          int       `json:"attempt"` // 1..6 within the delivery
	Time             time.Time `json:"time"`
	URL              string    `json:"url,omitempty"`
	Timestamp        string    `json:"timestamp,omitempty"` // StableMint-Timestamp sent
	Status           int       `json:"status,omitempty"`    // HTTP status, 0 if none
	Error            string    `json:"error,omitempty"`
	Acknowledged     bool      `json:"acknowledged"`
	InjectedFailure  bool      `json:"injectedFailure,omitempty"`  // FailNextDeliveries: not sent
	CorruptSignature bool      `json:"corruptSignature,omitempty"` // CorruptNextSignature
	NextRetryAt      time.Time `json:"nextRetryAt,omitzero"`
	GaveUp           bool      `json:"gaveUp,omitempty"`
}

// job is one delivery of an event: up to 1+len(retryDelays) attempts.
type job struct {
	id      string
	kind    string
	ev      *event
	attempt int // attempts made
	// replayTS/replaySig: headers to send on the first attempt instead of
	// fresh ones (Duplicate)
	replayTS, replaySig string
}

// queue holds a session's jobs waiting for their (next) attempt. One pump
// goroutine per session drains it, one request at a time.
type queue struct {
	jobs    []*job
	running bool
}

// enqueueLocked appends j to its session's queue and starts the pump if
// needed. Callers hold s.mu.
func (s *Server) enqueueLocked(j *job) {
	if s.closed {
		return
	}
	ref := j.ev.sessionRef
	q := s.queues[ref]
	if q == nil {
		q = &queue{}
		s.queues[ref] = q
	}
	q.jobs = append(q.jobs, j)
	if !q.running {
		q.running = true
		s.wg.Add(1)
		go s.pump(ref, q)
	}
}

func (s *Server) newJobLocked(ev *event, kind string) *job {
	s.jobSeq++
	return &job{id: fmt.Sprintf("dlv_%06d", s.jobSeq), kind: kind, ev: ev}
}

// pump sends the session's queued attempts in order, one at a time. A failed
// attempt does not hold the queue: its retry is scheduled and rejoins the
// back of the queue when due.
func (s *Server) pump(ref string, q *queue) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed || len(q.jobs) == 0 {
			q.running = false
			s.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		j.attempt++
		d := Delivery{
			DeliveryID: j.id,
			Kind:       j.kind,
			EventID:    j.ev.id,
			EventType:  j.ev.typ,
			SessionRef: ref,
			Attempt:    j.attempt,
			URL:        s.webhookURL,
		}
		switch {
		case d.URL == "":
		case s.failDeliveries > 0:
			s.failDeliveries--
			d.InjectedFailure = true
		case s.corruptNext:
			s.corruptNext = false
			d.CorruptSignature = true
		}
		s.mu.Unlock()

		s.attempt(j, &d)

		s.mu.Lock()
		if !d.Acknowledged && d.URL != "" && !s.closed {
			if j.attempt <= len(retryDelays) {
				delay := time.Duration(float64(retryDelays[j.attempt-1]) * s.timeScale)
				d.NextRetryAt = d.Time.Add(delay)
				s.scheduleLocked(j, delay)
			} else {
				d.GaveUp = true
			}
		}
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		s.logDelivery(d)
	}
}

// attempt makes one delivery attempt and fills in d.
func (s *Server) attempt(j *job, d *Delivery) {
	d.Time = s.now()
	if d.URL == "" {
		d.Error = "not delivered: no webhook URL configured"
		return
	}
	if d.InjectedFailure {
		d.Error = "not sent: injected failure (FailNextDeliveries)"
		return
	}
	ts, sig := j.replayTS, j.replaySig
	if ts == "" || j.attempt > 1 || d.CorruptSignature {
		ts = d.Time.UTC().Format(time.RFC3339)
		sig = s.sign(ts, j.ev.body)
	}
	if !d.CorruptSignature {
		s.mu.Lock()
		j.ev.lastTimestamp, j.ev.lastSignature = ts, sig
		s.mu.Unlock()
	} else {
		sig = corrupt(sig)
	}
	d.Timestamp = ts
	status, err := s.post(d.URL, j.ev.body, ts, sig)
	d.Status = status
	if err != nil {
		d.Error = err.Error()
		return
	}
	d.Acknowledged = status >= 200 && status <= 299
	if !d.Acknowledged {
		d.Error = fmt.Sprintf("not acknowledged: HTTP %d", status)
	}
}

// post sends one signed webhook request. Header names are written exactly
// as StableMint documents them.
func (s *Server) post(url string, body []byte, ts, sig string) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "StableMint-Sandbox/1 (paylinks)")
	req.Header["StableMint-Timestamp"] = []string{ts}
	req.Header["StableMint-Signature"] = []string{sig}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
			return 0, ErrStopped
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// sign is Base64(RSA PKCS#1 v1.5 SHA-256 over "<timestamp>,<raw body>").
func (s *Server) sign(ts string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write([]byte{','})
	h.Write(body)
	sig, err := rsa.SignPKCS1v15(nil, s.privKey, crypto.SHA256, h.Sum(nil))
	if err != nil { // only for a broken key, which New would not accept
		panic(fmt.Sprintf("sandbox: sign webhook: %v", err))
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// corrupt returns a well-formed Base64 signature that does not verify.
func corrupt(sig string) string {
	raw, _ := base64.StdEncoding.DecodeString(sig)
	if len(raw) == 0 {
		return "AAAA"
	}
	raw[len(raw)/2] ^= 0xff
	return base64.StdEncoding.EncodeToString(raw)
}

// scheduleLocked puts j back on its session's queue after delay. Callers hold
// s.mu. Close stops the timer.
func (s *Server) scheduleLocked(j *job, delay time.Duration) {
	s.timerSeq++
	id := s.timerSeq
	s.wg.Add(1)
	s.timers[id] = time.AfterFunc(delay, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, id)
		s.enqueueLocked(j) // no-op once closed
	})
}

func (s *Server) logDelivery(d Delivery) {
	attrs := []any{"delivery", d.DeliveryID, "event", d.EventID, "type", d.EventType,
		"session", d.SessionRef, "attempt", d.Attempt, "status", d.Status}
	switch {
	case d.Acknowledged:
		s.log.Info("webhook acknowledged", attrs...)
	case d.GaveUp:
		s.log.Warn("webhook failed; giving up", append(attrs, "err", d.Error)...)
	default:
		s.log.Warn("webhook not acknowledged", append(attrs, "err", d.Error, "next_retry", d.NextRetryAt)...)
	}
}

// Deliveries is every attempt so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}
