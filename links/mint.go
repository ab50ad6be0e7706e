// Package links holds the services that change a payment link outside the
// web layer: minting it at StableMint (Minter) and recovering a mint a
// crash interrupted, expiring links whose checkout session ran out
// (ExpirySweeper), and reading StableMint's errors (Classify). The pages,
// and every other front door, call these; docs/architecture.md walks a
// link from the form through them.
package links

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// HostedSessions is the part of the StableMint client paylinks mints with.
// *stablemint.Client implements it.
type HostedSessions interface {
	CreateHostedSession(ctx context.Context, req stablemint.Request) (stablemint.Session, error)
	Limits() stablemint.Limits
}

// MintStore is the storage the minter needs. *db.Store implements it.
type MintStore interface {
	GetSettings(ctx context.Context) (db.Settings, error)
	CreateLink(ctx context.Context, nl db.NewLink, a db.AuditEntry) (db.Link, bool, error)
	LinkByID(ctx context.Context, id int64) (db.Link, error)
	RetryLink(ctx context.Context, id int64, actor int64, a db.AuditEntry) error
	BeginLinkAttempt(ctx context.Context, id int64) (db.Link, error)
	CompleteLinkCreation(ctx context.Context, id int64, reference, checkoutURL string, expires time.Time) error
	FailLinkCreation(ctx context.Context, id int64, reason string) error
	HoldLinkCheckout(ctx context.Context, id int64, reference, checkoutURL, host string, expires time.Time, reason string) error
	LinksCreating(ctx context.Context, olderThan time.Time) ([]db.Link, error)
	SetLinkReminders(ctx context.Context, linkID int64, override *db.ReminderRule, actor int64, a db.AuditEntry) error
}

// Minter turns a committed link in state creating into a StableMint
// session. The link row and its idempotency key are committed before any
// call; the outcome is committed after it, in a second short transaction;
// no transaction is ever open during the call. A crash between the two
// leaves the link creating, and Recover re-sends it with the same key, so
// StableMint holds exactly one session per link.
type Minter struct {
	store  MintStore
	client HostedSessions
	log    *slog.Logger
	now    func() time.Time
	// observe, when set, hears each attempt's outcome (one of Outcomes).
	observe func(outcome string)
	// pending holds StableMint answers the disk refused, retried in
	// memory (savelater.go).
	pending pendingSaves
}

// ObserveOutcomes makes Mint report every attempt's outcome to f (one of
// Outcomes), for metrics. Call it before the minter is used.
func (m *Minter) ObserveOutcomes(f func(outcome string)) { m.observe = f }

func (m *Minter) outcome(name string) {
	if m.observe != nil {
		m.observe(name)
	}
}

// NewMinter builds a minter; now is its clock (nil: time.Now), which
// dates drafts (a birth date in the future) and recovery's cut-off.
func NewMinter(store MintStore, client HostedSessions, log *slog.Logger, now func() time.Time) *Minter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Minter{store: store, client: client, log: log.With("component", "minter"), now: now}
}

// requestFor builds the StableMint request of a stored link.
func requestFor(l db.Link) (stablemint.Request, error) {
	amount, err := stablemint.NewAmount(l.AmountMinor, l.Currency)
	if err != nil {
		return stablemint.Request{}, err
	}
	req := stablemint.Request{
		UserID: l.CustomerID, UserEmail: l.CustomerEmail, UserCountryCode: l.Country,
		Currency: l.Currency, Amount: amount,
		SuccessURL: l.SuccessURL, SupportURL: l.SupportURL, ExitURL: l.ExitURL, ErrorURL: l.ErrorURL,
		IdempotencyKey: l.IdempotencyKey, WebsiteReference: l.WebsiteReference, CustomFields: l.CustomFields,
	}
	if k := kycFromMap(l.KYC); !k.IsZero() {
		req.UserKYC = &k
	}
	return req, nil
}

// Mint calls StableMint for a link in state creating and records the
// outcome. It returns the outcome error for logging only: the link row
// already says what happened. The call is detached from ctx's cancellation
// (a closed browser tab must not leave a link half made) but keeps its
// values.
func (m *Minter) Mint(ctx context.Context, id int64) error {
	ctx = context.WithoutCancel(ctx)
	l, err := m.store.BeginLinkAttempt(ctx, id)
	if errors.Is(err, db.ErrConflict) {
		return nil // not creating any more: someone else finished it
	}
	if err != nil {
		return err
	}
	return m.call(ctx, &l)
}

// MintCreated is Mint for a link just returned by CreateLink, whose first
// attempt CreateLink has counted: it makes the call without another commit
// before it. l is updated in memory as the outcome was stored (status,
// reference, checkout URL, expiry, reason); a webhook that arrived in the
// meantime is not reflected: read the link again for that.
func (m *Minter) MintCreated(ctx context.Context, l *db.Link) error {
	return m.call(context.WithoutCancel(ctx), l)
}

// call makes the counted attempt for l, records its outcome and mirrors it
// in l.
func (m *Minter) call(ctx context.Context, l *db.Link) error {
	id := l.ID
	req, err := requestFor(*l)
	if err != nil {
		m.outcome("invalid")
		l.Status, l.LastError = paylink.StatusError, "The stored amount is invalid: "+err.Error()
		return m.store.FailLinkCreation(ctx, id, l.LastError)
	}
	start := m.now()
	sess, callErr := m.client.CreateHostedSession(ctx, req)
	var untrusted *stablemint.UntrustedCheckoutError
	if errors.As(callErr, &untrusted) {
		return m.untrusted(ctx, l, sess, untrusted.Host, callErr)
	}
	f := Classify(callErr)
	m.outcome(f.Outcome)
	if callErr != nil {
		m.log.Warn("mint failed", "link_id", id, "attempt", l.Attempts, "outcome", f.Outcome, "err", callErr, "ms", m.now().Sub(start).Milliseconds())
		l.Status, l.LastError = paylink.StatusError, f.Sentence
		err := m.store.FailLinkCreation(ctx, id, f.Sentence)
		if err != nil {
			l.Status = paylink.StatusCreating
			err = m.saveLater(id, "", err, func(ctx context.Context) error { return m.store.FailLinkCreation(ctx, id, f.Sentence) })
		}
		return errors.Join(callErr, err)
	}
	m.log.Info("minted", "link_id", id, "reference", sess.Reference, "ms", m.now().Sub(start).Milliseconds())
	return m.open(ctx, l, sess)
}

// open records a session whose checkout URL may be sent, and mirrors it in l.
// A write the disk refuses is retried in memory (saveLater), and the link
// in l stays creating, as stored.
func (m *Minter) open(ctx context.Context, l *db.Link, sess stablemint.Session) error {
	id := l.ID
	save := func(ctx context.Context) error {
		return m.store.CompleteLinkCreation(ctx, id, sess.Reference, sess.URL, sess.ExpiresAt)
	}
	if err := save(ctx); err != nil {
		return m.saveLater(id, sess.Reference, err, save)
	}
	l.Status, l.SMReference, l.CheckoutURL, l.ExpiresAt, l.LastError = paylink.StatusOpen, sess.Reference, sess.URL, sess.ExpiresAt, ""
	return nil
}

// untrusted records a session StableMint created on a checkout host that
// is not allowed: opened when an admin approved that host before
// (Settings.ApprovedCheckoutHosts), held for review otherwise. Either way
// the session is kept, and never asked for a second time.
func (m *Minter) untrusted(ctx context.Context, l *db.Link, sess stablemint.Session, host string, callErr error) error {
	st, err := m.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(st.ApprovedCheckoutHosts, host) {
		m.outcome("ok")
		m.log.Info("minted on an approved checkout host", "link_id", l.ID, "reference", sess.Reference, "host", host)
		return m.open(ctx, l, sess)
	}
	f := Classify(callErr)
	m.outcome(f.Outcome)
	m.log.Warn("checkout URL held for review", "link_id", l.ID, "reference", sess.Reference, "host", host)
	id := l.ID
	save := func(ctx context.Context) error {
		return m.store.HoldLinkCheckout(ctx, id, sess.Reference, sess.URL, host, sess.ExpiresAt, f.Sentence)
	}
	if err := save(ctx); err != nil {
		return m.saveLater(id, sess.Reference, err, save)
	}
	l.Status, l.SMReference, l.ExpiresAt, l.LastError = paylink.StatusError, sess.Reference, sess.ExpiresAt, f.Sentence
	l.HeldCheckoutURL, l.HeldCheckoutHost = sess.URL, host
	return nil
}

// Recover re-sends every link left in creating since before olderThan
// (after a crash, or a call that never returned), each with its stored
// idempotency key, and reports how many it tried.
func (m *Minter) Recover(ctx context.Context, olderThan time.Time) (int, error) {
	links, err := m.store.LinksCreating(ctx, olderThan)
	if err != nil {
		return 0, err
	}
	for _, l := range links {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		m.log.Info("recovering link left in creating", "link_id", l.ID, "attempts", l.Attempts)
		if err := m.Mint(ctx, l.ID); err != nil {
			m.log.Warn("recovery attempt failed", "link_id", l.ID, "err", err)
		}
	}
	return len(links), nil
}

// RecoveryJob recovers, at start, the links left in creating by an earlier
// process (last touched before startedAt: no request of this process can
// be minting them), then every interval those stuck longer than
// stuckAfter.
func (m *Minter) RecoveryJob(startedAt time.Time, interval, stuckAfter time.Duration) jobs.Job {
	return jobs.Job{Name: "recovery", Interval: interval,
		AtStart: func(ctx context.Context) error { _, err := m.Recover(ctx, startedAt); return err },
		Run:     func(ctx context.Context) error { _, err := m.Recover(ctx, m.now().Add(-stuckAfter)); return err }}
}

// kycFromMap reads the stored KYC map (keyed by StableMint's field names)
// into the request's struct.
func kycFromMap(m map[string]string) stablemint.KYC {
	return stablemint.KYC{
		FullName: m["fullName"], CitizenshipCountryCode: m["citizenshipCountryCode"],
		ResidenceAddress: m["residenceAddress"], DateOfBirth: m["dateOfBirth"], PlaceOfBirth: m["placeOfBirth"],
		Gender: m["gender"], MobilePhone: m["mobilePhone"], PersonalIdentificationNumber: m["personalIdentificationNumber"],
	}
}
