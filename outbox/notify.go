package outbox

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/paylink"
)

// NotifyStore is the storage staff notifications need (*db.Store).
type NotifyStore interface {
	PendingStaffEvents(ctx context.Context, limit int) ([]db.StaffEvent, error)
	CompleteStaffEvent(ctx context.Context, id int64, emails []db.NewEmail) (int, error)
	GetSettings(ctx context.Context) (db.Settings, error)
	DigestRecipients(ctx context.Context) ([]db.DigestRecipient, error)
	StaffEventsFor(ctx context.Context, userID int64, from, to time.Time) ([]db.StaffEvent, error)
	StaffEmailQueued(ctx context.Context, dedupeKey string) (bool, error)
	QueueStaffEmail(ctx context.Context, ne db.NewEmail) (bool, error)
}

// Notification job defaults (own picks).
const (
	DefaultNotifyInterval = 5 * time.Second
	DefaultDigestInterval = 15 * time.Minute
	// DigestCatchUpDays is how many past days a digest is still sent for
	// when paylinks was down when it was due.
	DigestCatchUpDays = 3
	notifyBatch       = 200
)

// NotifyConfig configures staff notifications; zero values take defaults.
type NotifyConfig struct {
	From        mail.Address
	CompanyName string
	// BaseURL is paylinks' public address, for the links in the emails.
	BaseURL        string
	Money          func(minor int64, currency string) string
	Now            func() time.Time
	Logger         *slog.Logger
	Interval       time.Duration // how often recorded changes become emails
	DigestInterval time.Duration // how often due digests are looked for
	Wake           func()        // Mailer.Wake; may be nil
}

// Notifier turns what the webhook ingest recorded (staff_notifications)
// into staff emails through the outbox: at once to the link's creator
// when they chose "immediately" and to every team address, and once a day
// (the UTC day's events, the next day) to creators who chose the digest.
// Each email has a dedupe key, so a retry or a second process never
// queues it twice; the mail worker sends it with the usual retries and no
// check of the link's status.
type Notifier struct {
	store NotifyStore
	cfg   NotifyConfig
	log   *slog.Logger
}

// NewNotifier builds the notification service.
func NewNotifier(store NotifyStore, cfg NotifyConfig) *Notifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultNotifyInterval
	}
	if cfg.DigestInterval <= 0 {
		cfg.DigestInterval = DefaultDigestInterval
	}
	if cfg.Money == nil {
		cfg.Money = plainMoney
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: store, cfg: cfg, log: log.With("component", "notifications")}
}

// Jobs are the immediate notifications (at start and every interval) and
// the daily digests (at start and every digest interval).
func (n *Notifier) Jobs() []jobs.Job {
	run := func(ctx context.Context) error { _, err := n.RunOnce(ctx); return err }
	digests := func(ctx context.Context) error { _, err := n.RunDigests(ctx); return err }
	return []jobs.Job{
		{Name: "notifications", Interval: n.cfg.Interval, AtStart: run, Run: run},
		{Name: "digests", Interval: n.cfg.DigestInterval, AtStart: digests, Run: digests},
	}
}

// RunOnce turns every recorded change into its immediate emails and says
// how many emails it queued.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	queued := 0
	defer func() {
		if queued > 0 && n.cfg.Wake != nil {
			n.cfg.Wake()
		}
	}()
	st, err := n.store.GetSettings(ctx)
	if err != nil {
		return 0, err
	}
	for ctx.Err() == nil {
		evs, err := n.store.PendingStaffEvents(ctx, notifyBatch)
		if err != nil || len(evs) == 0 {
			return queued, err
		}
		for _, e := range evs {
			q, err := n.store.CompleteStaffEvent(ctx, e.ID, n.immediate(e, st.NotifyTeam))
			if err != nil {
				return queued, err
			}
			queued += q
		}
		if len(evs) < notifyBatch {
			return queued, nil
		}
	}
	return queued, ctx.Err()
}

// immediate is the emails one change sends at once: to the creator when
// they chose it (and may still act on links: not disabled, not a viewer),
// and to each team address, each address once.
func (n *Notifier) immediate(e db.StaffEvent, team []string) []db.NewEmail {
	var out []db.NewEmail
	seen := map[string]bool{}
	add := func(to, name, why string) {
		key := strings.ToLower(to)
		if seen[key] {
			return
		}
		if _, err := mail.ParseAddress(to); err != nil {
			n.log.Warn("notification address refused", "address_error", err.Error())
			return
		}
		seen[key] = true
		if mail.CheckHeader(name, mail.MaxNameLength) != nil {
			name = ""
		}
		subject, text, html := n.render(e, why)
		out = append(out, db.NewEmail{
			FromAddr: n.cfg.From.Email, FromName: n.cfg.From.Name, ToAddr: to, ToName: name,
			Subject: subject, Text: text, HTML: html, MessageIDDomain: n.cfg.From.Domain(), CreatedBy: e.CreatorID,
			DedupeKey: "notify:" + strconv.FormatInt(e.ID, 10) + ":" + key,
		})
	}
	if e.CreatorNotify == db.NotifyImmediate && !e.CreatorDisabled && e.CreatorRole != paylink.RoleViewer {
		add(e.CreatorEmail, e.CreatorName, "You receive this because you created the link. Choose immediately, a daily digest or nothing on your account page: "+n.cfg.BaseURL+"/account")
	}
	for _, t := range team {
		add(t, "", "This address receives every paylinks notification (Settings, team addresses).")
	}
	return out
}

// headline says what happened, in a clerk's words.
func headline(e db.StaffEvent) (short, long string) {
	switch e.Event {
	case db.NotifyPaid:
		return "Paid", "The customer paid."
	case db.NotifyFailed:
		return "Payment failed", "The customer's payment failed. You may re-issue the link from its page."
	case db.NotifyNeedsReview:
		return "Needs attention", "StableMint reported an amount or currency that differs from the link's. Check the link before you treat it as paid."
	case db.NotifyPaidAfterExpiry:
		return "Needs attention", "A payment arrived after the link had expired. Check it before you treat it as paid."
	case db.NotifyPaidAfterCancel:
		return "Needs attention", "A payment arrived after the link was cancelled. Decide whether to keep the money or refund it."
	}
	return "Update", "The link changed."
}

func (n *Notifier) linkURL(id int64) string {
	return n.cfg.BaseURL + "/links/" + strconv.FormatInt(id, 10)
}

// describe is the link in one line, without any personal data beyond the
// merchant's own customer id: "Link #12, €50.00, customer CUST-42 (INV-1)".
func (n *Notifier) describe(e db.StaffEvent) string {
	s := "Link #" + strconv.FormatInt(e.LinkID, 10) + ", " + n.cfg.Money(e.AmountMinor, e.Currency) + ", customer " + e.CustomerID
	if e.WebsiteReference != "" {
		s += " (" + e.WebsiteReference + ")"
	}
	return s
}

var notifyHTML = htmltemplate.Must(htmltemplate.New("notify").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;color:#1f2328">
{{range .Items}}<p><strong>{{.Headline}}</strong> — {{.Describe}}<br>{{.Long}} Status now: {{.Status}} ({{.At}}).<br><a href="{{.URL}}">{{.URL}}</a></p>
{{end}}<p style="font-size:13px;color:#57606a">{{.Why}}</p>
</body></html>
`))

type notifyItem struct{ Headline, Describe, Long, Status, At, URL string }

func (n *Notifier) item(e db.StaffEvent) notifyItem {
	short, long := headline(e)
	return notifyItem{Headline: short, Describe: n.describe(e), Long: long, Status: string(e.Status),
		At: formatWhen(e.At), URL: n.linkURL(e.LinkID)}
}

func renderNotify(subject string, items []notifyItem, why string) (text, html string) {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s — %s\n%s Status now: %s (%s).\n%s\n\n", it.Headline, it.Describe, it.Long, it.Status, it.At, it.URL)
	}
	b.WriteString(why + "\n")
	var h bytes.Buffer
	if err := notifyHTML.Execute(&h, struct {
		Subject string
		Items   []notifyItem
		Why     string
	}{subject, items, why}); err != nil {
		// The template is fixed and its values are strings: this cannot
		// fail; the text part alone would still go.
		return b.String(), "<p>" + htmltemplate.HTMLEscapeString(b.String()) + "</p>"
	}
	return b.String(), h.String()
}

// render is one change's email.
func (n *Notifier) render(e db.StaffEvent, why string) (subject, text, html string) {
	short, _ := headline(e)
	subject = oneLineSubject(short + ": " + n.describe(e))
	text, html = renderNotify(subject, []notifyItem{n.item(e)}, why)
	return subject, text, html
}

// oneLineSubject keeps a subject to one line of a header's length.
func oneLineSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > mail.MaxSubjectLength {
		s = string(r[:mail.MaxSubjectLength-1]) + "…"
	}
	return s
}

// RunDigests queues each digest user's digest for every finished UTC day
// of the last DigestCatchUpDays that had events on their links, once
// (dedupe key digest:<user>:<day>), and says how many it queued.
func (n *Notifier) RunDigests(ctx context.Context) (int, error) {
	users, err := n.store.DigestRecipients(ctx)
	if err != nil || len(users) == 0 {
		return 0, err
	}
	queued := 0
	defer func() {
		if queued > 0 && n.cfg.Wake != nil {
			n.cfg.Wake()
		}
	}()
	today := n.cfg.Now().UTC().Truncate(24 * time.Hour)
	for back := DigestCatchUpDays; back >= 1; back-- {
		day := today.AddDate(0, 0, -back)
		for _, u := range users {
			key := "digest:" + strconv.FormatInt(u.ID, 10) + ":" + day.Format(time.DateOnly)
			if done, err := n.store.StaffEmailQueued(ctx, key); err != nil || done {
				if err != nil {
					return queued, err
				}
				continue
			}
			evs, err := n.store.StaffEventsFor(ctx, u.ID, day, day.AddDate(0, 0, 1))
			if err != nil {
				return queued, err
			}
			if len(evs) == 0 {
				continue
			}
			items := make([]notifyItem, len(evs))
			for i, e := range evs {
				items[i] = n.item(e)
			}
			subject := oneLineSubject(fmt.Sprintf("paylinks digest for %s: %d update(s) on your links", day.Format("2 Jan 2006"), len(evs)))
			text, html := renderNotify(subject, items, "You receive one digest a day (UTC) because you chose it on your account page: "+n.cfg.BaseURL+"/account")
			name := u.Name
			if mail.CheckHeader(name, mail.MaxNameLength) != nil {
				name = ""
			}
			ok, err := n.store.QueueStaffEmail(ctx, db.NewEmail{
				FromAddr: n.cfg.From.Email, FromName: n.cfg.From.Name, ToAddr: u.Email, ToName: name,
				Subject: subject, Text: text, HTML: html, MessageIDDomain: n.cfg.From.Domain(), CreatedBy: u.ID, DedupeKey: key,
			})
			if err != nil {
				return queued, err
			}
			if ok {
				queued++
			}
		}
	}
	return queued, nil
}
