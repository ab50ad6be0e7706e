// Package outbox sends what paylinks queued to send: the Mailer claims a
// committed email, checks its link may still be emailed (customer emails
// and reminders; staff notifications are not held back), sends it through
// SMTP (or keeps it in the local mailbox when no SMTP server is set) and
// records the outcome. Delivery is at least once; docs/security.md (A11)
// and docs/operations.md give the limits.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/filelock"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/metrics"
	"github.com/paylinks/paylinks/paylink"
)

// Sender delivers one message and returns the server's reply.
// *mail.SMTP implements it; a *mail.DeliveryError says whether to retry.
type Sender interface {
	Send(ctx context.Context, m mail.Message) (string, error)
}

// Store is the storage the mail worker needs.
type Store interface {
	ClaimEmail(ctx context.Context, lease time.Duration, maxAttempts int) (db.Email, error)
	MarkEmailSent(ctx context.Context, e db.Email, reply string) error
	KeepEmail(ctx context.Context, e db.Email, raw []byte) error
	FailEmail(ctx context.Context, e db.Email, reason string) error
	CancelEmail(ctx context.Context, e db.Email, reason string) error
	RetryEmail(ctx context.Context, e db.Email, next time.Time, reason string) error
	ReleaseDeadLeases(ctx context.Context) (int, error)
	LinkByID(ctx context.Context, id int64) (db.Link, error)
}

// Mail delivery limits (docs/security.md A11; the schedule is our pick).
const (
	DefaultAttempts = 8
	DefaultMaxAge   = 24 * time.Hour
	DefaultLease    = 5 * time.Minute
	DefaultPoll     = 5 * time.Second
)

// retrySchedule is the wait after each failed attempt: 8 attempts span
// about 7 h 51 min, well inside the 24 h limit.
var retrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour}

// DefaultBackoff is the wait after failed attempt n (1-based), with
// ±10 % jitter so a recovered server is not hit by every row at once.
func DefaultBackoff(attempt int) time.Duration {
	d := retrySchedule[min(max(attempt, 1), len(retrySchedule))-1]
	return d - d/10 + rand.N(d/5+1)
}

// Config configures a Mailer; zero values take the defaults.
type Config struct {
	// Sender delivers messages; nil keeps them in the local mailbox.
	Sender      Sender
	Logger      *slog.Logger
	Now         func() time.Time
	Lease       time.Duration // how long a claim lasts; must exceed a whole SMTP conversation
	Poll        time.Duration // how often Run looks for due rows when not woken
	MaxAttempts int
	MaxAge      time.Duration // no retry is scheduled past created_at + MaxAge
	Backoff     func(attempt int) time.Duration
	// Metrics counts each attempt's outcome; nil counts nothing.
	Metrics *metrics.Metrics
	// LockPath is the mailer lock's file (beside the database). The worker
	// holding it is the only one sending, so at start it frees the leases
	// of processes that died mid-send instead of waiting out their 5
	// minutes. "" skips that.
	LockPath string
}

// Mailer sends committed outbox rows, after their transaction, one at
// a time: claim (a lease, counted as an attempt), check the link is still
// payable, send outside any transaction, record the outcome with the lease
// token. Delivery is at least once: a worker that dies after the server
// took a message but before recording it leaves the row claimed; when the
// lease expires it is sent again with the same Message-ID.
type Mailer struct {
	metrics     *metrics.Metrics
	store       Store
	sender      Sender
	log         *slog.Logger
	now         func() time.Time
	lease       time.Duration
	poll        time.Duration
	maxAttempts int
	maxAge      time.Duration
	backoff     func(int) time.Duration
	wake        chan struct{}
	lockPath    string
	lockMu      sync.Mutex
	unlock      func() // releases the mailer lock; nil when not held

	// accepted are emails the mail server took whose "sent" this process
	// could not record (a full disk): while the process lives it knows
	// they went, so it records them again instead of sending them again.
	acceptedMu sync.Mutex
	accepted   map[int64]acceptedEmail
}

// acceptedEmail is a message the server took, not yet recorded as sent.
type acceptedEmail struct {
	email db.Email // as claimed when it was sent (its lease token)
	reply string
	at    time.Time
}

// NewMailer builds a worker; its Job runs it.
func NewMailer(store Store, cfg Config) *Mailer {
	w := &Mailer{store: store, sender: cfg.Sender, log: cfg.Logger, now: cfg.Now, lease: cfg.Lease, poll: cfg.Poll,
		maxAttempts: cfg.MaxAttempts, maxAge: cfg.MaxAge, backoff: cfg.Backoff, wake: make(chan struct{}, 1), metrics: cfg.Metrics,
		accepted: map[int64]acceptedEmail{}, lockPath: cfg.LockPath}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "mailer")
	if w.now == nil {
		w.now = time.Now
	}
	if w.lease <= 0 {
		w.lease = DefaultLease
	}
	if w.poll <= 0 {
		w.poll = DefaultPoll
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultAttempts
	}
	if w.maxAge <= 0 {
		w.maxAge = DefaultMaxAge
	}
	if w.backoff == nil {
		w.backoff = DefaultBackoff
	}
	return w
}

// LocalMailbox reports whether messages are kept instead of sent.
func (w *Mailer) LocalMailbox() bool { return w.sender == nil }

// MaxAttempts is the attempt limit, for display.
func (w *Mailer) MaxAttempts() int { return w.maxAttempts }

// Wake asks the job to look for work now (after a commit that queued mail).
func (w *Mailer) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Job sends due emails in the background: at start (rows left by an
// earlier process), when woken, and every poll interval. An attempt in
// progress when the job stops is finished and recorded.
func (w *Mailer) Job() jobs.Job {
	drain := func(ctx context.Context) error { _, err := w.Drain(ctx); return err }
	start := func(ctx context.Context) error {
		w.releaseDeadLeases(ctx)
		return drain(ctx)
	}
	return jobs.Job{Name: "mailer", Interval: w.poll, Wake: w.wake,
		AtStart: start, Run: drain}
}

// releaseDeadLeases takes the mailer lock and, holding it, frees the
// leases other processes left: those processes are dead, so their emails
// read "waiting to retry" and go at once, not "in progress" for 5 minutes.
// Without the lock (another paylinks is sending) it leaves them.
func (w *Mailer) releaseDeadLeases(ctx context.Context) {
	w.lockMu.Lock()
	defer w.lockMu.Unlock()
	if w.lockPath == "" || w.unlock != nil {
		return
	}
	release, ok, err := filelock.TryLock(w.lockPath)
	switch {
	case err != nil:
		w.log.Warn("mailer lock", "err", err)
		return
	case !ok:
		w.log.Info("another paylinks process is sending email; leaving its leases to expire")
		return
	}
	w.unlock = release
	n, err := w.store.ReleaseDeadLeases(ctx)
	if err != nil {
		w.log.Error("release the leases of stopped processes", "err", err)
		return
	}
	if n > 0 {
		w.log.Info("emails of a stopped process are due again", "count", n)
	}
}

// Close releases the mailer lock (the process is ending anyway).
func (w *Mailer) Close() {
	w.lockMu.Lock()
	defer w.lockMu.Unlock()
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// Drain processes due rows until none is left (or ctx ends) and says how
// many it handled.
func (w *Mailer) Drain(ctx context.Context) (int, error) {
	w.recordAccepted(ctx) // once a turn, before claiming: what the server took is recorded, never resent
	n := 0
	for ctx.Err() == nil {
		did, err := w.ProcessOne(ctx)
		if err != nil {
			return n, err
		}
		if !did {
			return n, nil
		}
		n++
	}
	return n, nil
}

// ProcessOne claims one due email and takes it to its next state. It
// reports false when nothing was due.
func (w *Mailer) ProcessOne(ctx context.Context) (bool, error) {
	e, err := w.store.ClaimEmail(ctx, w.lease, w.maxAttempts)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The attempt runs to its end even if ctx ends now: recording the
	// outcome is what keeps a message from going twice.
	actx := context.WithoutCancel(ctx)
	log := w.log.With("outbox_id", e.ID, "link_id", e.LinkID, "attempt", e.Attempts)

	// Claimed again after its lease ran out while this process could not
	// record that the server took it: record it now, never send it twice.
	w.acceptedMu.Lock()
	a, ok := w.accepted[e.ID]
	w.acceptedMu.Unlock()
	if ok {
		log.Info("email already taken by the mail server: recording it as sent, not sending it again")
		return true, w.markSent(actx, log, e, a.reply)
	}

	// An email to the customer (sent by staff, or a reminder) goes only
	// while its link can be paid, checked now, at send time. A staff
	// notification is about a link that was paid or failed: no check.
	if e.Kind != db.KindStaff {
		l, err := w.store.LinkByID(actx, e.LinkID)
		if err != nil {
			return true, errors.Join(err, w.retry(actx, log, e, "paylinks could not read the link: "+err.Error()))
		}
		if why := Blocker(l, w.now()); why != "" {
			log.Info("email cancelled", "reason", why, "kind", e.Kind)
			w.metrics.EmailOutcome("cancelled")
			return true, w.record(w.store.CancelEmail(actx, e, "the link "+why+"."), log)
		}
	}
	msg := mail.Message{
		MessageID: e.MessageID,
		From:      mail.Address{Name: e.FromName, Email: e.FromAddr},
		To:        mail.Address{Name: e.ToName, Email: e.ToAddr},
		Subject:   e.Subject, Text: e.Text, HTML: e.HTML,
		Date: w.now(),
	}
	if w.sender == nil {
		raw, err := mail.Render(msg)
		if err != nil {
			w.metrics.EmailOutcome("failed")
			return true, w.record(w.store.FailEmail(actx, e, "the message is invalid: "+err.Error()), log)
		}
		log.Info("email kept in the local mailbox (no SMTP server configured)")
		w.metrics.EmailOutcome("kept")
		return true, w.record(w.store.KeepEmail(actx, e, raw), log)
	}
	start := time.Now()
	reply, sendErr := w.sender.Send(actx, msg)
	log = log.With("ms", time.Since(start).Milliseconds())
	if sendErr == nil {
		log.Info("email sent", "reply", reply)
		w.metrics.EmailOutcome("sent")
		return true, w.markSent(actx, log, e, reply)
	}
	reason := sendErr.Error()
	if mail.IsPermanent(sendErr) {
		log.Warn("email refused", "err", sendErr)
		w.metrics.EmailOutcome("failed")
		return true, w.record(w.store.FailEmail(actx, e, reason), log)
	}
	log.Warn("email attempt failed", "err", sendErr)
	return true, w.retry(actx, log, e, reason)
}

// markSent records that the server took e. If the store cannot record it
// (a full disk), the fact stays in memory: recordAccepted tries again at
// every turn of the worker, and a claim of the same row records it
// instead of sending. Only a process that died may send it again.
func (w *Mailer) markSent(ctx context.Context, log *slog.Logger, e db.Email, reply string) error {
	err := w.store.MarkEmailSent(ctx, e, reply)
	w.acceptedMu.Lock()
	defer w.acceptedMu.Unlock()
	switch {
	case err == nil:
		delete(w.accepted, e.ID)
	case errors.Is(err, db.ErrConflict):
		delete(w.accepted, e.ID) // the row is another worker's, or final: its outcome counts
	default:
		log.Error("the mail server took the email but paylinks could not record it; recording it again shortly, never resending", "err", err)
		w.accepted[e.ID] = acceptedEmail{email: e, reply: reply, at: w.now()}
		return err
	}
	return w.record(err, log)
}

// recordAccepted records, with their original lease, the emails the server
// took that could not be recorded yet. Those older than MaxAge are
// forgotten: their row has been failed or finished meanwhile.
func (w *Mailer) recordAccepted(ctx context.Context) {
	w.acceptedMu.Lock()
	pending := make([]acceptedEmail, 0, len(w.accepted))
	for id, a := range w.accepted {
		if w.now().Sub(a.at) > w.maxAge {
			delete(w.accepted, id)
			continue
		}
		pending = append(pending, a)
	}
	w.acceptedMu.Unlock()
	for _, a := range pending {
		err := w.store.MarkEmailSent(context.WithoutCancel(ctx), a.email, a.reply)
		if err == nil || errors.Is(err, db.ErrConflict) {
			// Recorded; or its lease ran out and the row was claimed
			// again: that claim finds it in accepted and records it.
			if err == nil {
				w.acceptedMu.Lock()
				delete(w.accepted, a.email.ID)
				w.acceptedMu.Unlock()
				w.log.Info("email recorded as sent after the store accepted writes again", "outbox_id", a.email.ID)
			}
		}
	}
}

// retry schedules the next attempt after a transient failure, or fails the
// row when its attempts or its 24 hours are used up.
func (w *Mailer) retry(ctx context.Context, log *slog.Logger, e db.Email, reason string) error {
	if e.Attempts >= w.maxAttempts {
		w.metrics.EmailOutcome("failed")
		return w.record(w.store.FailEmail(ctx, e, "gave up after "+strconv.Itoa(e.Attempts)+" attempts: "+reason), log)
	}
	next := w.now().Add(w.backoff(e.Attempts))
	if next.After(e.CreatedAt.Add(w.maxAge)) {
		w.metrics.EmailOutcome("failed")
		return w.record(w.store.FailEmail(ctx, e, "gave up after "+strconv.Itoa(e.Attempts)+" attempts over "+
			w.maxAge.String()+": "+reason), log)
	}
	w.metrics.EmailOutcome("retry")
	return w.record(w.store.RetryEmail(ctx, e, next, reason), log)
}

// record logs an outcome that could not be stored. ErrConflict means the
// lease expired and another worker took the row over: its outcome counts.
func (w *Mailer) record(err error, log *slog.Logger) error {
	if errors.Is(err, db.ErrConflict) {
		log.Warn("outcome not recorded: the lease expired and the row was claimed again")
		return nil
	}
	if err != nil {
		log.Error("record email outcome", "err", err)
	}
	return err
}

// notOpen says, per status, why a link that is not open cannot be emailed.
var notOpen = map[paylink.Status]string{
	paylink.StatusCreating:   "is still being created",
	paylink.StatusError:      "has no checkout session (StableMint did not create it)",
	paylink.StatusProcessing: "is being paid (processing)",
	paylink.StatusPaid:       "is paid",
	paylink.StatusSettled:    "is paid and settled",
	paylink.StatusFailed:     "failed (its payment failed)",
	paylink.StatusExpired:    "has expired",
	paylink.StatusCancelled:  "was cancelled",
}

// Blocker says why a link cannot be emailed at now, or "" when it
// can: it must be open (not creating, processing, paid, settled, failed or
// expired), have a checkout URL and not have passed its expiry. Emailing a
// processing link could make the customer pay twice.
func Blocker(l db.Link, now time.Time) string {
	switch {
	case l.HeldCheckoutHost != "":
		return "is held for review: its checkout page is on " + l.HeldCheckoutHost + ", a host an admin has not approved yet"
	case l.Status != paylink.StatusOpen:
		if why, ok := notOpen[l.Status]; ok {
			return why
		}
		return "is " + string(l.Status)
	case l.CheckoutURL == "":
		return "has no checkout link"
	case !l.ExpiresAt.IsZero() && !l.ExpiresAt.After(now):
		return "expired on " + l.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")
	}
	return ""
}
