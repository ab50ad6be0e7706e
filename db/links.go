package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// Link is one payment link.
type Link struct {
	ID               int64
	IdempotencyKey   string
	FormToken        string
	Status           paylink.Status
	CustomerID       string
	CustomerEmail    string
	Country          string
	AmountMinor      int64
	Currency         string
	WebsiteReference string
	Note             string
	CustomFields     map[string]string
	KYC              map[string]string
	SuccessURL       string
	SupportURL       string
	ExitURL          string
	ErrorURL         string
	SMReference      string
	CheckoutURL      string
	ExpiresAt        time.Time
	SMSessionID      string
	DepositReference string
	LastError        string
	Attempts         int
	PaidAfterExpiry  bool
	NeedsReview      bool
	ReissueOf        int64
	ReissuedAs       int64 // the newest link that re-issued this one, if any
	// HeldCheckoutURL and HeldCheckoutHost are set while StableMint's
	// checkout URL waits for an admin to approve its host (HoldLinkCheckout).
	HeldCheckoutURL  string
	HeldCheckoutHost string
	// Set when staff cancelled the link (CancelLink).
	CancelledAt     time.Time
	CancelledByName string
	CancelReason    string
	// PaidAfterCancel: a payment arrived after staff cancelled the link.
	PaidAfterCancel bool
	// PaidAt is when the link first became paid or settled, SettledAt when
	// it first became settled.
	PaidAt        time.Time
	SettledAt     time.Time
	CreatedBy     int64
	CreatedByName string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// NewLink is what staff submit; the store fills the rest.
type NewLink struct {
	IdempotencyKey   string
	FormToken        string
	CustomerID       string
	CustomerEmail    string
	Country          string
	AmountMinor      int64
	AmountText       string // the amount in major units, "12.50": exact-match search key
	Currency         string
	WebsiteReference string
	Note             string
	CustomFields     map[string]string
	KYC              map[string]string
	SuccessURL       string
	SupportURL       string
	ExitURL          string
	ErrorURL         string
	ReissueOf        int64
	CreatedBy        int64
	// AllowDuplicate skips the duplicate guard (the user confirmed).
	AllowDuplicate bool
	// Claim, when set, is an Idempotency-Key claim stored with the link, in
	// its transaction (ErrIdemTaken when another request holds it).
	Claim *IdemClaim
}

// DuplicateError refuses a new link because links for the same customer,
// website reference and amount are still in progress; the user may confirm.
type DuplicateError struct {
	Links []Link
}

func (e *DuplicateError) Error() string {
	return "a link for the same customer, reference and amount is in progress"
}

// LinkEvent is one line of a link's timeline.
type LinkEvent struct {
	ID        int64
	LinkID    int64
	At        time.Time
	Kind      string
	ActorID   int64
	ActorName string
	Message   string
	RefID     int64
	// EventType is the StableMint event type behind a webhook line (kind
	// status or webhook, RefID its delivery), as sent; "" for the others.
	EventType string
}

const linkCols = `l.id, l.idempotency_key, COALESCE(l.form_token, ''), l.status, l.customer_id, l.customer_email,
	l.country, l.amount_minor, l.currency, l.website_reference, l.note, l.custom_fields, l.kyc,
	l.success_url, l.support_url, l.exit_url, l.error_url, COALESCE(l.sm_reference, ''),
	COALESCE(l.checkout_url, ''), l.expires_at, COALESCE(l.sm_session_id, ''), COALESCE(l.deposit_reference, ''),
	l.last_error, l.attempts, l.paid_after_expiry, l.needs_review, COALESCE(l.reissue_of, 0),
	COALESCE((SELECT max(r.id) FROM links r WHERE r.reissue_of = l.id), 0),
	COALESCE(l.held_checkout_url, ''), COALESCE(l.held_checkout_host, ''),
	l.cancelled_at, COALESCE((SELECT c.name FROM users c WHERE c.id = l.cancelled_by), ''), l.cancel_reason,
	l.paid_after_cancel, l.paid_at, l.settled_at,
	l.created_by, COALESCE(u.name, ''), l.created_at, l.updated_at`

const linkFrom = ` FROM links l LEFT JOIN users u ON u.id = l.created_by`

func scanLink(r scanner) (Link, error) {
	var l Link
	var custom, kyc string
	var expires, cancelled, paid, settled sql.NullInt64
	var created, updated int64
	err := r.Scan(&l.ID, &l.IdempotencyKey, &l.FormToken, &l.Status, &l.CustomerID, &l.CustomerEmail,
		&l.Country, &l.AmountMinor, &l.Currency, &l.WebsiteReference, &l.Note, &custom, &kyc,
		&l.SuccessURL, &l.SupportURL, &l.ExitURL, &l.ErrorURL, &l.SMReference,
		&l.CheckoutURL, &expires, &l.SMSessionID, &l.DepositReference,
		&l.LastError, &l.Attempts, &l.PaidAfterExpiry, &l.NeedsReview, &l.ReissueOf,
		&l.ReissuedAs, &l.HeldCheckoutURL, &l.HeldCheckoutHost,
		&cancelled, &l.CancelledByName, &l.CancelReason, &l.PaidAfterCancel, &paid, &settled,
		&l.CreatedBy, &l.CreatedByName, &created, &updated)
	if err != nil {
		return Link{}, mapErr(err)
	}
	l.ExpiresAt, l.CancelledAt = nullMS(expires), nullMS(cancelled)
	l.PaidAt, l.SettledAt = nullMS(paid), nullMS(settled)
	l.CreatedAt, l.UpdatedAt = fromMS(created), fromMS(updated)
	l.CustomFields, l.KYC = decodeMap(custom), decodeMap(kyc)
	return l, nil
}

func decodeMap(s string) map[string]string {
	m := map[string]string{}
	if s != "{}" && s != "" { // most links have none: skip the decoder
		_ = json.Unmarshal([]byte(s), &m)
	}
	return m
}

func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

// qInsertLink inserts a link as CreateLink makes it (prepared once: its
// search triggers make it the dearest statement to parse).
const qInsertLink = `INSERT INTO links (idempotency_key, form_token, status, customer_id,
	customer_email, country, amount_minor, amount_text, currency, website_reference, note, custom_fields, kyc,
	success_url, support_url, exit_url, error_url, reissue_of, created_by, created_at, updated_at, attempts)
	VALUES (?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`

func linkTarget(id int64) string { return "link:" + itoa(id) }

// CreateLink commits a new link in state creating, with its idempotency key,
// a "created" timeline entry and the audit entry, in one transaction, before
// anything is sent to StableMint. Its first call to StableMint is counted
// already (attempts 1), as BeginLinkAttempt counts the others: the request
// that creates a link makes that call right after, and counting it here
// spares the request a durable commit of its own. A second submission of the same form
// (same FormToken) creates nothing and returns the first link with
// created=false. Unless AllowDuplicate, open links for the same customer,
// website reference and amount (other than the one being re-issued) refuse
// it with a *DuplicateError; both checks run inside the transaction, so
// concurrent submissions cannot slip past them.
func (s *Store) CreateLink(ctx context.Context, nl NewLink, a AuditEntry) (l Link, created bool, err error) {
	insert, err := s.prepared(ctx, true, qInsertLink)
	if err != nil {
		return Link{}, false, err
	}
	err = s.withTx(ctx, func(tx *Tx) error {
		if nl.Claim != nil {
			if err := insertIdemClaim(ctx, tx, *nl.Claim); err != nil {
				return err
			}
		}
		var formToken any
		if nl.FormToken != "" {
			formToken = nl.FormToken
			var existing int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM links WHERE form_token = ?", nl.FormToken).Scan(&existing)
			if err == nil {
				l.ID = existing
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if !nl.AllowDuplicate {
			dups, err := duplicatesOf(ctx, tx, DupKey{nl.CustomerID, nl.WebsiteReference, nl.AmountMinor, nl.Currency}, nl.ReissueOf)
			if err != nil {
				return err
			}
			if len(dups) > 0 {
				return &DuplicateError{Links: dups}
			}
		}
		var reissue any
		if nl.ReissueOf != 0 {
			reissue = nl.ReissueOf
		}
		res, err := tx.StmtContext(ctx, insert).ExecContext(ctx,
			nl.IdempotencyKey, formToken, nl.CustomerID, nl.CustomerEmail, nl.Country, nl.AmountMinor, nl.AmountText,
			nl.Currency, nl.WebsiteReference, nl.Note, encodeMap(nl.CustomFields), encodeMap(nl.KYC),
			nl.SuccessURL, nl.SupportURL, nl.ExitURL, nl.ErrorURL, reissue, nl.CreatedBy, ms(tx.now), ms(tx.now))
		if err != nil {
			return mapErr(err)
		}
		if l.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		created = true
		msg := "Link created; asking StableMint for a checkout session."
		if nl.ReissueOf != 0 {
			msg = "Link created as a re-issue of #" + itoa(nl.ReissueOf) + "; asking StableMint for a checkout session."
			if err := insertLinkEvent(ctx, tx, nl.ReissueOf, "reissued", nl.CreatedBy, "Re-issued as #"+itoa(l.ID)+".", l.ID); err != nil {
				return err
			}
		}
		if err := insertLinkEvent(ctx, tx, l.ID, "created", nl.CreatedBy, msg, 0); err != nil {
			return err
		}
		a.Target = linkTarget(l.ID)
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return Link{}, false, err
	}
	// Committed: read it back even if the request is being cancelled, so
	// the caller can still make the StableMint call it has counted.
	l, err = s.LinkByID(context.WithoutCancel(ctx), l.ID)
	return l, created, err
}

// DupKey is what the duplicate guard compares: an unfinished link with the
// same customer, website reference, amount and currency.
type DupKey struct {
	CustomerID, WebsiteReference string
	AmountMinor                  int64
	Currency                     string
}

// duplicatesOf lists the unfinished links with k's customer, reference and
// amount (newest first, at most 10), other than except: the guard the form
// and bulk import share.
func duplicatesOf(ctx context.Context, q querier, k DupKey, except int64) ([]Link, error) {
	return queryLinks(ctx, q, "SELECT "+linkCols+linkFrom+` WHERE l.customer_id = ? AND l.website_reference = ?
		AND l.amount_minor = ? AND l.currency = ? AND l.id <> ?
		AND l.status NOT IN ('failed', 'expired', 'paid', 'settled') ORDER BY l.id DESC LIMIT 10`,
		k.CustomerID, k.WebsiteReference, k.AmountMinor, k.Currency, except)
}

func insertLinkEvent(ctx context.Context, tx *Tx, linkID int64, kind string, actor int64, msg string, ref int64) error {
	var actorArg, refArg any
	if actor != 0 {
		actorArg = actor
	}
	if ref != 0 {
		refArg = ref
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO link_events (link_id, at, kind, actor_id, message, ref_id) VALUES (?, ?, ?, ?, ?, ?)",
		linkID, ms(tx.now), kind, actorArg, clean(msg), refArg)
	return err
}

const qLinkByIDFull = "SELECT " + linkCols + linkFrom + " WHERE l.id = ?"

// LinkByID loads one link.
func (s *Store) LinkByID(ctx context.Context, id int64) (Link, error) {
	st, err := s.prepared(ctx, false, qLinkByIDFull)
	if err != nil {
		return Link{}, err
	}
	return scanLink(st.QueryRowContext(ctx, id))
}

// BeginLinkAttempt counts a call to StableMint about to be made for a link
// still creating (or in error and being retried). It is committed before the
// call, so a crash mid-call leaves the link creating, to be retried with the
// same idempotency key.
func (s *Store) BeginLinkAttempt(ctx context.Context, id int64) (Link, error) {
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET attempts = attempts + 1, updated_at = ?
			WHERE id = ? AND status = 'creating'`, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		return nil
	})
	if err != nil {
		return Link{}, err
	}
	return s.LinkByID(ctx, id)
}

// CompleteLinkCreation stores StableMint's session and opens the link. It
// changes nothing unless the link is still creating (or in error): an answer
// that arrives twice is applied once.
func (s *Store) CompleteLinkCreation(ctx context.Context, id int64, reference, checkoutURL string, expires time.Time) error {
	open, err := s.prepared(ctx, true, qOpenLink)
	if err != nil {
		return err
	}
	// A zero expiry is "unknown" (StableMint gave none, or 0): stored as
	// NULL, which the expiry sweeper never matches, so no link is expired
	// on a guess.
	var expiresAt any
	msg := "StableMint created session " + reference + ", valid until " + expires.UTC().Format("2006-01-02 15:04 MST") + "."
	if expires.IsZero() {
		msg = "StableMint created session " + reference + " without saying when it expires; paylinks will not expire it."
	} else {
		expiresAt = ms(expires)
	}
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.StmtContext(ctx, open).ExecContext(ctx, reference, checkoutURL, expiresAt, ms(tx.now), id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return noteLateSession(ctx, tx, id, reference)
		}
		return insertLinkEvent(ctx, tx, id, "answered", 0, msg, 0)
	})
}

// noteLateSession records, on a link cancelled while its StableMint call
// was under way, the session StableMint made for it all the same: the
// reference only (a search for it finds the link, a webhook about it
// matches it), with a timeline line, never the checkout URL, so nobody is
// sent to pay a cancelled link. Any other link that is no longer waiting
// for an answer (one a concurrent retry already opened) is left alone.
func noteLateSession(ctx context.Context, tx *Tx, id int64, reference string) error {
	res, err := tx.ExecContext(ctx, `UPDATE links SET sm_reference = ?, updated_at = ?
		WHERE id = ? AND status = 'cancelled' AND sm_reference IS NULL`, reference, ms(tx.now), id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return insertLinkEvent(ctx, tx, id, "answered", 0, "StableMint answered after the cancel: it made session "+reference+
		". Its checkout link was not kept and was never shown or emailed.", 0)
}

// qOpenLink opens a link with StableMint's answer (prepared once: naming
// sm_reference runs the search-key trigger, which it compiles).
const qOpenLink = `UPDATE links SET status = 'open', sm_reference = ?, checkout_url = ?,
	expires_at = ?, last_error = '', updated_at = ? WHERE id = ? AND status IN ('creating', 'error')`

// HoldLinkCheckout records a session StableMint created whose checkout URL
// is on a host paylinks does not allow: the reference and expiry are
// stored (webhooks find the link; the sweeper and a later approval know
// its expiry), the URL is kept aside for admins, and the link stays in
// error with reason, so nobody is sent there. Only a creating or error
// link is held; a link already further is left alone.
func (s *Store) HoldLinkCheckout(ctx context.Context, id int64, reference, checkoutURL, host string, expires time.Time, reason string) error {
	var expiresAt any
	if !expires.IsZero() {
		expiresAt = ms(expires)
	}
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET status = 'error', sm_reference = ?, held_checkout_url = ?,
			held_checkout_host = ?, expires_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND status IN ('creating', 'error')`,
			reference, checkoutURL, host, expiresAt, oneLine(reason), ms(tx.now), id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return noteLateSession(ctx, tx, id, reference)
		}
		return insertLinkEvent(ctx, tx, id, "held", 0, "StableMint created session "+reference+
			", but its checkout page is on "+host+", which paylinks does not know: held for an admin to approve the host.", 0)
	})
}

// ApproveCheckoutHost adds host to the approved checkout hosts in the
// settings and opens every link held on it with its checkout URL, in one
// transaction, audited; no StableMint call is made (each session exists).
// It returns how many links opened.
func (s *Store) ApproveCheckoutHost(ctx context.Context, host string, actor int64, a AuditEntry) (int, error) {
	opened := 0
	err := s.withTx(ctx, func(tx *Tx) error {
		var raw string
		if err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", settingsKey).Scan(&raw); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var st Settings
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				return err
			}
		}
		if !slices.Contains(st.ApprovedCheckoutHosts, host) {
			st.ApprovedCheckoutHosts = append(st.ApprovedCheckoutHosts, host)
			if _, err := putSettings(ctx, tx, st, actor); err != nil {
				return err
			}
		}
		ids, err := queryIDs(ctx, tx, `UPDATE links SET status = 'open', checkout_url = held_checkout_url,
			held_checkout_url = NULL, held_checkout_host = NULL, last_error = '', updated_at = ?
			WHERE held_checkout_host = ? AND status = 'error' RETURNING id`, ms(tx.now), host)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := insertLinkEvent(ctx, tx, id, "status", actor, "Checkout host "+host+" approved by an admin: the link is open.", 0); err != nil {
				return err
			}
		}
		opened = len(ids)
		a.Target = "checkout-host:" + host
		a.Details = "approved; links opened: " + strconv.Itoa(opened)
		return insertAudit(ctx, tx, a)
	})
	return opened, err
}

// FailLinkCreation moves a creating link to error with a reason staff can
// read; it keeps its idempotency key for the retry.
func (s *Store) FailLinkCreation(ctx context.Context, id int64, reason string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET status = 'error', last_error = ?, updated_at = ?
			WHERE id = ? AND status = 'creating'`, reason, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return insertLinkEvent(ctx, tx, id, "error", 0, reason, 0)
	})
}

// RetryLink moves a link in error back to creating, with a timeline entry
// and an audit entry. The idempotency key stays the same.
func (s *Store) RetryLink(ctx context.Context, id int64, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET status = 'creating', updated_at = ?
			WHERE id = ? AND status = 'error'`, ms(tx.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		if err := insertLinkEvent(ctx, tx, id, "retried", actor, "Retry requested with the same idempotency key.", 0); err != nil {
			return err
		}
		a.Target = linkTarget(id)
		return insertAudit(ctx, tx, a)
	})
}

// LinksCreating lists links left in creating since before olderThan: after a
// crash, or while StableMint was slow. The recovery worker re-sends them.
func (s *Store) LinksCreating(ctx context.Context, olderThan time.Time) ([]Link, error) {
	// A bulk import's links are the import job's to send
	// (ImportLinksToMint), at its pace and only while the batch runs.
	return queryLinks(ctx, s.read, "SELECT "+linkCols+linkFrom+` WHERE l.status = 'creating' AND l.updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.link_id = l.id) ORDER BY l.id`, ms(olderThan))
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryLinks(ctx context.Context, db querier, q string, args ...any) ([]Link, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// LinkTimeline lists a link's events, oldest first.
func (s *Store) LinkTimeline(ctx context.Context, linkID int64) ([]LinkEvent, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT e.id, e.link_id, e.at, e.kind, COALESCE(e.actor_id, 0),
		COALESCE(u.name, ''), e.message, COALESCE(e.ref_id, 0), COALESCE(w.type, '')
		FROM link_events e LEFT JOIN users u ON u.id = e.actor_id
		LEFT JOIN webhook_deliveries w ON w.id = e.ref_id AND e.kind IN ('status', 'webhook')
		WHERE e.link_id = ? ORDER BY e.id`, linkID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LinkEvent
	for rows.Next() {
		var e LinkEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.LinkID, &at, &e.Kind, &e.ActorID, &e.ActorName, &e.Message, &e.RefID, &e.EventType); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddLinkEvent appends a timeline entry outside any other change.
func (s *Store) AddLinkEvent(ctx context.Context, linkID int64, kind string, actor int64, msg string) error {
	return s.withTx(ctx, func(tx *Tx) error { return insertLinkEvent(ctx, tx, linkID, kind, actor, msg, 0) })
}

// CountLinks counts all links.
func (s *Store) CountLinks(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM links").Scan(&n)
	return n, err
}
