package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/filelock"
	"github.com/paylinks/paylinks/jobs"
)

// Store is the storage the worker needs; *db.Store is one.
type Store interface {
	ClaimOutbound(ctx context.Context, n, perEndpoint int, lease time.Duration) ([]db.OutboundMessage, error)
	RecordOutbound(ctx context.Context, outs []db.OutboundOutcome) (db.OutboundRecorded, error)
	LinkByID(ctx context.Context, id int64) (db.Link, error)
	ReleaseDeadOutbound(ctx context.Context) (int, error)
}

// Delivery limits (docs/outbound-webhooks.md).
const (
	DefaultTimeout     = 10 * time.Second // one attempt, connection to the last byte read
	DefaultConcurrency = 16               // attempts at once, across endpoints
	DefaultPerEndpoint = 4                // attempts at once to one endpoint
	DefaultLease       = 30 * time.Second // longer than an attempt (10 s) and its recording
	DefaultPoll        = time.Second      // how often the worker looks for due messages
	DefaultMaxAge      = 72 * time.Hour   // retries stop, and a failing endpoint is disabled, after this
	ExcerptSize        = 1 << 10          // the answer's first bytes kept in the log
	MaxAnswer          = 64 << 10         // a larger answer fails the attempt
	RotationOverlap    = 24 * time.Hour   // a rotated secret still signs for this long
)

// retrySchedule is the wait after each failed attempt; the last repeats
// until the message is 3 days old.
var retrySchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour}

// DefaultBackoff is the wait after failed attempt n (1-based), ±20 %, so
// the messages of a receiver that comes back are not all sent at once.
func DefaultBackoff(attempt int) time.Duration {
	d := retrySchedule[min(max(attempt, 1), len(retrySchedule))-1]
	return d - d/5 + rand.N(2*d/5+1)
}

// Options configure a Worker; zero values take the defaults.
type Options struct {
	// LinkData is a link as the message's data shows it: the JSON API's
	// representation, wired in by the composition root. nil:
	// DefaultLinkData.
	LinkData func(db.Link) any
	// Guard checks every connection (SSRF); nil is a production guard
	// with no allowed hosts.
	Guard       *Guard
	Now         func() time.Time
	Logger      *slog.Logger
	Timeout     time.Duration
	Concurrency int
	PerEndpoint int
	Lease       time.Duration
	Poll        time.Duration
	MaxAge      time.Duration
	Backoff     func(attempt int) time.Duration
	// TLS, when set, is the client's TLS configuration (tests trust their
	// own receivers' certificates); TLS 1.2 is the minimum either way.
	TLS *tls.Config
	// Disabled, when set, hears of endpoints disabled for failing too long,
	// after the commit (admins are told).
	Disabled func(ctx context.Context, endpointIDs []int64)
	// LockPath is the delivery lock's file (beside the database). Only the
	// worker holding it delivers: another paylinks process on the same
	// database stands by, trying the lock at each poll, and takes over
	// within a poll of the holder's end. Taking it frees the leases dead
	// processes left. "" delivers without the lock (each message is still
	// claimed by one worker at a time).
	LockPath string
}

// Worker delivers committed messages.
type Worker struct {
	store  Store
	opts   Options
	client *http.Client
	log    *slog.Logger
	wake   chan struct{}

	lockMu  sync.Mutex
	unlock  func() // releases the delivery lock; nil when not held
	standby bool   // another process held the lock at the last try (logged once)
}

// New builds a worker; its Job runs it.
func New(store Store, o Options) *Worker {
	if o.LinkData == nil {
		o.LinkData = DefaultLinkData
	}
	if o.Guard == nil {
		o.Guard = &Guard{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = DefaultPerEndpoint
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLS != nil {
		tlsConf = o.TLS.Clone()
		if tlsConf.MinVersion < tls.VersionTLS12 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}
	tr := &http.Transport{
		Proxy:                 nil, // the environment's proxy would dial for us, past the guard
		DialContext:           o.Guard.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   o.PerEndpoint,
		// A kept connection skips the resolution the guard does for each
		// delivery: only the sandbox's loopback receivers keep theirs.
		DisableKeepAlives: !o.Guard.Sandbox,
	}
	client := &http.Client{Transport: tr, Timeout: o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Worker{store: store, opts: o, client: client, log: o.Logger.With("component", "webhooks-out"), wake: make(chan struct{}, 1)}
}

// Guard is the worker's SSRF guard, for checking addresses at registration.
func (w *Worker) Guard() *Guard { return w.opts.Guard }

// Wake asks the worker to look for due messages now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Job delivers due messages in the background: at start, when woken, and
// every Poll. Attempts in flight when the job stops finish and are
// recorded.
func (w *Worker) Job() jobs.Job {
	run := func(ctx context.Context) error { _, err := w.Drain(ctx); return err }
	return jobs.Job{Name: "webhooks-out", Interval: w.opts.Poll, Wake: w.wake, AtStart: run, Run: run}
}

// Drain delivers due messages until none is left (or ctx ends) and says
// how many attempts it made. Up to Concurrency attempts run at once, at
// most PerEndpoint to one endpoint; finished attempts are recorded
// together (one commit for all that finished meanwhile) while the others
// run, so a slow receiver holds one slot, not the worker.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	if !w.delivering(ctx) {
		return 0, nil
	}
	results := make(chan db.OutboundOutcome, w.opts.Concurrency)
	inflight, done := 0, 0
	var firstErr error
	claim := true
	for {
		// Claim when half the slots are free (or none is busy): a claim
		// costs about as much whether it takes one message or eight.
		if claim && ctx.Err() == nil && firstErr == nil && inflight <= w.opts.Concurrency/2 {
			ms, err := w.store.ClaimOutbound(ctx, w.opts.Concurrency-inflight, w.opts.PerEndpoint, w.opts.Lease)
			if err != nil && ctx.Err() == nil {
				firstErr = err
			}
			for _, m := range ms {
				inflight++
				go func() { results <- w.attempt(ctx, m) }()
			}
			claim = len(ms) > 0
			if claim {
				continue
			}
		}
		if inflight == 0 {
			return done, firstErr
		}
		batch := []db.OutboundOutcome{<-results}
	gather:
		for len(batch) < cap(results) {
			select {
			case o := <-results:
				batch = append(batch, o)
			default:
				break gather
			}
		}
		inflight -= len(batch)
		done += len(batch)
		if err := w.record(ctx, batch); err != nil && firstErr == nil {
			firstErr = err
		}
		claim = true
	}
}

// delivering reports whether this worker may deliver: it holds the
// delivery lock, or there is none. On taking the lock it frees the leases
// other processes left: they are dead (or they would hold the lock), so
// their messages go now rather than when their leases run out.
func (w *Worker) delivering(ctx context.Context) bool {
	if w.opts.LockPath == "" || !filelock.Supported {
		return true
	}
	w.lockMu.Lock()
	defer w.lockMu.Unlock()
	if w.unlock != nil {
		return true
	}
	release, ok, err := filelock.TryLock(w.opts.LockPath)
	switch {
	case err != nil:
		w.log.Error("webhook delivery lock; not delivering", "err", err)
		return false
	case !ok:
		if !w.standby {
			w.log.Info("another paylinks process delivers the webhooks of this database; standing by")
			w.standby = true
		}
		return false
	}
	w.unlock, w.standby = release, false
	n, err := w.store.ReleaseDeadOutbound(ctx)
	if err != nil {
		w.log.Error("free the webhook leases of stopped processes; they are sent when their leases expire", "err", err)
	} else if n > 0 {
		w.log.Info("webhooks a stopped process was sending are due again", "count", n)
	}
	return true
}

// Close releases the delivery lock (call it once the job has stopped).
func (w *Worker) Close() {
	w.lockMu.Lock()
	defer w.lockMu.Unlock()
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// record commits a batch of outcomes; an attempt's outcome is recorded
// even when ctx has ended (the job is stopping).
func (w *Worker) record(ctx context.Context, batch []db.OutboundOutcome) error {
	rctx := context.WithoutCancel(ctx)
	rec, err := w.store.RecordOutbound(rctx, batch)
	if err != nil {
		w.log.Error("record webhook attempts; their leases expire and they are sent again", "count", len(batch), "err", err)
		return err
	}
	if len(rec.Disabled) > 0 {
		w.log.Warn("webhook endpoints disabled: every delivery failed for "+w.opts.MaxAge.String(), "endpoints", rec.Disabled)
		if w.opts.Disabled != nil {
			w.opts.Disabled(rctx, rec.Disabled)
		}
	}
	return nil
}

// attempt sends one claimed message and says what to record. It runs to
// its end even when ctx ends (the job is stopping): its outcome is what
// keeps the message from going twice.
func (w *Worker) attempt(ctx context.Context, m db.OutboundMessage) db.OutboundOutcome {
	at := w.opts.Now()
	start := time.Now()
	log := w.log.With("message", m.ID, "endpoint", m.EndpointID, "type", m.Type, "attempt", m.Attempts)
	status, excerpt, err := w.send(context.WithoutCancel(ctx), m, at)
	o := db.OutboundOutcome{Message: m, DisableAfter: w.opts.MaxAge,
		Attempt: db.OutboundAttempt{MessageID: m.ID, At: at, Duration: time.Since(start), HTTPStatus: status, Response: excerpt}}
	if err == nil {
		o.Delivered = true
		log.Info("webhook delivered", "status", status, "ms", o.Attempt.Duration.Milliseconds())
		return o
	}
	o.Attempt.Error = err.Error()
	deadline := m.CreatedAt.Add(w.opts.MaxAge)
	if at.Before(deadline) {
		o.Next = at.Add(w.opts.Backoff(m.Attempts))
		if o.Next.After(deadline) {
			o.Next = deadline // a last attempt at 3 days
		}
	}
	log.Warn("webhook attempt failed", "status", status, "err", err, "final", o.Next.IsZero())
	return o
}

// send makes the request and reads the answer: nil error for 2xx.
func (w *Worker) send(ctx context.Context, m db.OutboundMessage, at time.Time) (int, string, error) {
	var link *db.Link
	if m.LinkID != 0 {
		l, err := w.store.LinkByID(ctx, m.LinkID)
		if err != nil {
			return 0, "", fmt.Errorf("paylinks could not read the link: %w", err)
		}
		link = &l
	}
	b, err := body(m, link, w.opts.LinkData)
	if err != nil {
		return 0, "", fmt.Errorf("paylinks could not build the message: %w", err)
	}
	// The timeout is the receiver's: from here to the answer's last byte.
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	sig, err := Sign(m.Endpoint.Secrets(at), m.MsgID, at, b)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint.URL, bytes.NewReader(b))
	if err != nil {
		return 0, "", fmt.Errorf("the endpoint's address is not usable: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paylinks-webhooks/1")
	req.Header.Set("webhook-id", m.MsgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, "", describe(err, w.opts.Timeout)
	}
	defer resp.Body.Close()
	excerpt, readErr := readAnswer(resp.Body)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, excerpt, fmt.Errorf("the endpoint answered %d (redirects are not followed)", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return resp.StatusCode, excerpt, fmt.Errorf("the endpoint answered %d", resp.StatusCode)
	case readErr != nil:
		return resp.StatusCode, excerpt, describe(readErr, w.opts.Timeout)
	}
	return resp.StatusCode, excerpt, nil
}

var errTooLarge = fmt.Errorf("the answer was larger than %d KiB", MaxAnswer>>10)

// readAnswer keeps the answer's first KiB and reads the rest up to
// MaxAnswer (a larger answer fails the attempt, unread).
func readAnswer(r io.Reader) (string, error) {
	buf := make([]byte, ExcerptSize)
	n, err := io.ReadFull(r, buf)
	excerpt := strings.ToValidUTF8(string(buf[:n]), string(utf8.RuneError))
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return excerpt, nil
	}
	if err != nil {
		return excerpt, err
	}
	rest, err := io.Copy(io.Discard, io.LimitReader(r, MaxAnswer-ExcerptSize+1))
	if err != nil {
		return excerpt, err
	}
	if rest > MaxAnswer-ExcerptSize {
		return excerpt, errTooLarge
	}
	return excerpt, nil
}

// describe turns a transport error into the log's words.
func describe(err error, timeout time.Duration) error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrRefused):
		var msg = err.Error()
		if i := strings.Index(msg, ErrRefused.Error()+": "); i >= 0 {
			msg = msg[i:]
		}
		return errors.New("paylinks " + msg)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no complete answer within %s", timeout)
	}
	return err
}
