package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// WebhookIngestStore is what the ingester needs: write transactions that
// take deliveries one at a time. *db.Store and *db.WebhookWriter (its
// statements prepared once) implement it.
type WebhookIngestStore interface {
	BeginWebhooks(ctx context.Context) (db.WebhookTx, error)
}

// WebhookStore is the storage of webhooks, their admin pages, the expiry
// sweeper and the link page's live updates. *db.Store implements it.
type WebhookStore interface {
	WebhookIngestStore
	links.ExpiryStore
	WebhookEventByID(ctx context.Context, id int64) (db.WebhookEvent, error)
	WebhookEventDeliveries(ctx context.Context, eventID int64) ([]db.WebhookDeliveryRow, error)
	ListWebhookDeliveries(ctx context.Context, f db.WebhookFilter) (db.WebhookDeliveryPage, error)
	WebhookEventTypes(ctx context.Context) ([]string, error)
	LinkIDsByReference(ctx context.Context, ref string, limit int) ([]int64, error)
	LinkVersion(ctx context.Context, id int64) (string, error)
	AssignWebhookEvent(ctx context.Context, eventID, linkID int64, ev db.WebhookEventData, a db.AuditEntry) (db.WebhookAction, error)
	ReapplyWebhookEvent(ctx context.Context, eventID int64, ev db.WebhookEventData, a db.AuditEntry) (db.WebhookAction, error)
	DismissWebhookEvent(ctx context.Context, eventID int64, note string, a db.AuditEntry) error
	ResolveWebhookReview(ctx context.Context, eventID int64, accept bool, a db.AuditEntry) (db.WebhookAction, error)
}

// ErrIngesterClosed is returned for deliveries submitted after Close.
var ErrIngesterClosed = errors.New("webhook ingester closed")

// Ingester defaults.
const (
	DefaultWebhookBatch  = 64
	DefaultWebhookLinger = time.Millisecond
)

// IngesterOptions tune a WebhookIngester; zero values take the defaults.
type IngesterOptions struct {
	// MaxBatch is the most deliveries one transaction commits.
	MaxBatch int
	// Linger is the longest a batch waits for announced deliveries (see
	// Expect) before committing; negative never waits. The batch's write
	// transaction is open meanwhile, so it also bounds how long one batch
	// can keep other writers waiting (besides its own statements): keep it
	// to a millisecond or two.
	Linger time.Duration
}

// WebhookIngester commits webhook deliveries through the single writer,
// grouping those that arrive together into one transaction (group commit).
// One goroutine takes a delivery, opens a transaction and applies it, then
// applies every other delivery already waiting (up to MaxBatch), commits
// them together and answers each caller: concurrent deliveries share one
// fsync instead of paying one each, and while one batch commits the next
// gathers. The transaction also stays open for the deliveries announced
// (Expect: received and being verified) that have not reached it yet,
// applying each as it arrives, up to Linger (1 ms): concurrent senders then
// fill one commit rather than alternating between two half-full ones, and
// a delivery with none other on its way never waits. (A fixed wait instead
// did worse: Go's timers fire late at this scale, 370 µs for 100 µs here,
// and a wait for nobody is pure latency.)
//
// A caller is answered only after the commit that holds its delivery, or
// with the error that kept it out. If a delivery fails, the transaction is
// rolled back and each delivery it held is retried alone, so one bad
// delivery cannot fail the others; none is ever acknowledged without its
// commit.
type WebhookIngester struct {
	store    WebhookIngestStore
	log      *slog.Logger
	maxBatch int
	linger   time.Duration
	jobs     chan ingestJob // unbuffered: a send succeeds only while the loop runs
	pending  atomic.Int64   // announced deliveries not yet taken
	wake     chan struct{}  // an announced delivery was abandoned
	quit     chan struct{}
	done     chan struct{}
	stop     sync.Once
}

type ingestJob struct {
	d       db.WebhookDelivery
	arrival *Arrival         // its announcement (Expect)
	reply   chan ingestReply // buffered: the loop never blocks on a caller
}

type ingestReply struct {
	res db.WebhookResult
	err error
}

// NewWebhookIngester starts the writer goroutine; Close stops it.
func NewWebhookIngester(store WebhookIngestStore, log *slog.Logger, o IngesterOptions) *WebhookIngester {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultWebhookBatch
	}
	if o.Linger == 0 {
		o.Linger = DefaultWebhookLinger
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &WebhookIngester{store: store, log: log.With("component", "webhooks"), maxBatch: o.MaxBatch, linger: o.Linger,
		jobs: make(chan ingestJob), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Expect announces a delivery that is on its way: received, and now being
// verified and parsed. A batch being gathered waits for announced
// deliveries (up to Linger) rather than committing without them. Every
// delivery enters this way: the Arrival must be submitted, or abandoned if
// it never will be.
func (w *WebhookIngester) Expect() *Arrival {
	w.pending.Add(1)
	return &Arrival{w: w}
}

// Arrival is a delivery announced by Expect.
type Arrival struct {
	w    *WebhookIngester
	gone atomic.Bool
}

// Submit stores the announced delivery and returns once it is committed,
// or with the error that kept it out (then nothing of it is stored). If ctx
// ends first the delivery may still commit; StableMint's retry is then a
// duplicate.
func (a *Arrival) Submit(ctx context.Context, d db.WebhookDelivery) (db.WebhookResult, error) {
	return a.w.submit(ctx, ingestJob{d: d, arrival: a})
}

// Abandon withdraws the announcement (nothing if the delivery was taken):
// a batch waiting for it commits without it.
func (a *Arrival) Abandon() {
	if a.taken() {
		select {
		case a.w.wake <- struct{}{}:
		default:
		}
	}
}

// taken marks the announced delivery as no longer on its way; it reports
// whether this call did.
func (a *Arrival) taken() bool {
	if a.gone.CompareAndSwap(false, true) {
		a.w.pending.Add(-1)
		return true
	}
	return false
}

func (w *WebhookIngester) submit(ctx context.Context, job ingestJob) (db.WebhookResult, error) {
	job.reply = make(chan ingestReply, 1)
	select {
	case w.jobs <- job:
	case <-w.quit:
		return db.WebhookResult{}, ErrIngesterClosed
	case <-ctx.Done():
		return db.WebhookResult{}, ctx.Err()
	}
	select {
	case r := <-job.reply:
		return r.res, r.err
	case <-ctx.Done():
		return db.WebhookResult{}, ctx.Err()
	}
}

// Close stops taking deliveries, lets the batch in progress commit and
// answer, and waits for the goroutine. Callers still waiting to be taken get
// ErrIngesterClosed. Call it after the HTTP server has shut down.
func (w *WebhookIngester) Close() {
	w.stop.Do(func() { close(w.quit) })
	<-w.done
}

func (w *WebhookIngester) run() {
	defer close(w.done)
	b := &ingestBatch{jobs: make([]ingestJob, 0, w.maxBatch), res: make([]db.WebhookResult, 0, w.maxBatch),
		timer: time.NewTimer(time.Hour)}
	b.timer.Stop()
	for {
		select {
		case <-w.quit:
			return
		case j := <-w.jobs:
			w.batch(b, j)
		}
	}
}

// ingestBatch is the run loop's reusable state.
type ingestBatch struct {
	jobs  []ingestJob
	res   []db.WebhookResult
	timer *time.Timer
}

// take receives a job: its delivery is no longer on its way.
func take(j ingestJob) ingestJob {
	j.arrival.taken()
	return j
}

// batch opens a transaction with first and applies each delivery that
// arrives before it commits: those already waiting, and those announced
// (Expect) and still being verified, for up to Linger. Then it commits and
// answers them all.
//
// The transaction runs under a context that is never cancelled: given one
// that can be, database/sql watches it from a goroutine for the whole
// transaction and the SQLite driver starts another per statement (to
// interrupt it), which cost the single writer about 5% of its throughput.
// Nothing here waits unboundedly: every statement is an indexed write, and
// a wait for the write lock ends after busy_timeout (5 s) with an error,
// which each caller gets.
func (w *WebhookIngester) batch(b *ingestBatch, first ingestJob) {
	ctx := context.Background()
	b.jobs, b.res = append(b.jobs[:0], take(first)), b.res[:0]
	tx, err := w.store.BeginWebhooks(ctx)
	if err != nil {
		w.log.Error("store webhook delivery", "err", err)
		first.reply <- ingestReply{err: err}
		return
	}
	defer tx.Rollback()
	apply := func(j ingestJob) error {
		r, err := tx.Ingest(j.d)
		b.res = append(b.res, r)
		return err
	}
	err = apply(first)
	waiting, expired := false, false
gather:
	for err == nil && len(b.jobs) < w.maxBatch {
		var j ingestJob
		select {
		case j = <-w.jobs:
		default:
			if expired || w.linger <= 0 || w.pending.Load() == 0 {
				break gather // no other delivery is on its way
			}
			if !waiting {
				b.timer.Reset(w.linger)
				waiting = true
			}
			select {
			case j = <-w.jobs:
			case <-w.wake: // one gave up: are others still coming?
				continue
			case <-b.timer.C:
				expired = true
				continue
			case <-w.quit: // closing: commit what the batch holds
				break gather
			}
		}
		b.jobs = append(b.jobs, take(j))
		err = apply(j)
	}
	if waiting && !expired {
		b.timer.Stop()
	}
	if err == nil {
		err = tx.Commit()
	}
	if err == nil {
		for i, j := range b.jobs {
			j.reply <- ingestReply{res: b.res[i]}
		}
		return
	}
	tx.Rollback()
	if len(b.jobs) == 1 {
		w.log.Error("store webhook delivery", "err", err)
		first.reply <- ingestReply{err: err}
		return
	}
	// Nothing of the batch is stored. Retry each delivery on its own so one
	// bad delivery fails alone.
	w.log.Warn("webhook batch failed; retrying its deliveries one by one", "size", len(b.jobs), "err", err)
	for _, j := range b.jobs {
		r, err := w.alone(ctx, j.d)
		if err != nil {
			w.log.Error("store webhook delivery", "err", err)
		}
		j.reply <- ingestReply{res: r, err: err}
	}
}

// alone stores one delivery in its own transaction.
func (w *WebhookIngester) alone(ctx context.Context, d db.WebhookDelivery) (db.WebhookResult, error) {
	tx, err := w.store.BeginWebhooks(ctx)
	if err != nil {
		return db.WebhookResult{}, err
	}
	defer tx.Rollback()
	r, err := tx.Ingest(d)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return db.WebhookResult{}, err
	}
	return r, nil
}

// webhookReceiver serves POST /webhooks/stablemint.
type webhookReceiver struct {
	a        *app
	verifier *stablemint.Verifier
	ingester *WebhookIngester
	refusals *sampledLog
}

func (a *app) webhookReceiver() *webhookReceiver {
	return &webhookReceiver{a: a, verifier: a.opts.Verifier, ingester: a.opts.Webhooks,
		refusals: newSampledLog(rate.Every(time.Second), 5)}
}

// rateLimit bounds requests per client IP, generously: StableMint sends one
// request per event, in bursts after an outage of ours. Beyond it: 429, and
// StableMint retries later.
func (w *webhookReceiver) rateLimit() echo.MiddlewareFunc {
	o := w.a.opts
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(o.WebhookRatePerSecond), Burst: o.WebhookBurst, ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return c.JSON(http.StatusTooManyRequests, webhookAnswer{Error: "too many requests"})
		},
	})
}

// webhookAnswer is the small JSON body StableMint gets back. It says
// nothing about why a signature was refused.
type webhookAnswer struct {
	OK        bool   `json:"ok,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// receive verifies the signature over the raw bytes before anything parses
// them, then stores the event and applies it to its link in one
// transaction, and answers 2xx only once that has committed:
//
//   - missing or bad signature, or a timestamp outside the window: 401, the
//     attempt recorded (time, IP, reason, body hash; never the body), the
//     log line sampled so a flood cannot flood the log;
//   - verified: 200, also for a duplicate, an unknown type, an event that
//     matches no link, and a body that is not JSON (StableMint cannot fix
//     those by retrying; admins see them);
//   - not stored (database error, shutting down): 503, so StableMint retries;
//   - over 256 KiB: 413, from the body limit.
func (w *webhookReceiver) receive(c echo.Context) error {
	if w.verifier == nil || w.ingester == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable).WithInternal(errors.New("webhooks are not configured: no verifier or ingester"))
	}
	r := c.Request()
	ctx := r.Context()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // 413 from the body limit
		}
		return echo.NewHTTPError(http.StatusBadRequest).WithInternal(err)
	}
	// From here the delivery is on its way to the writer: a batch being
	// gathered waits for it while its signature is checked.
	arrival := w.ingester.Expect()
	defer arrival.Abandon()
	sum := sha256.Sum256(body)
	d := db.WebhookDelivery{
		ReceivedAt: w.a.now().UTC(),
		IP:         c.RealIP(),
		RequestID:  c.Response().Header().Get(echo.HeaderXRequestID),
		BodySHA256: hex.EncodeToString(sum[:]),
		BodySize:   len(body),
	}
	if err := w.verifier.Verify(r.Header, body); err != nil {
		return w.refuse(c, arrival, d, err)
	}
	d.SigTimestamp = r.Header.Get(stablemint.HeaderWebhookTimestamp)
	d.Signature = r.Header.Get(stablemint.HeaderWebhookSignature)
	d.Event = eventData(body)
	res, err := arrival.Submit(ctx, d)
	if err != nil {
		w.a.metrics.WebhookDelivery("unavailable")
		return echo.NewHTTPError(http.StatusServiceUnavailable).WithInternal(err)
	}
	if res.Duplicate {
		w.a.metrics.WebhookDelivery("duplicate")
	} else {
		w.a.metrics.WebhookDelivery("accepted")
	}
	logFrom(ctx, w.a.log).Info("webhook stored", "event_id", res.EventID, "type", d.Event.Type,
		"outcome", res.Outcome, "duplicate", res.Duplicate, "link_id", res.LinkID)
	return c.JSON(http.StatusOK, webhookAnswer{OK: true, Duplicate: res.Duplicate})
}

// refuse records a refused delivery and answers 401.
func (w *webhookReceiver) refuse(c echo.Context, arrival *Arrival, d db.WebhookDelivery, verr error) error {
	ctx := c.Request().Context()
	w.a.metrics.WebhookDelivery("refused")
	d.RejectReason = "refused"
	var ve *stablemint.VerifyError
	if errors.As(verr, &ve) {
		d.RejectReason = ve.Reason
	}
	l := logFrom(ctx, w.a.log)
	if ok, suppressed := w.refusals.allow(); ok {
		l.Warn("webhook refused", "reason", d.RejectReason, "ip", d.IP, "body_sha256", d.BodySHA256,
			"body_bytes", d.BodySize, "suppressed_since_last", suppressed)
	}
	if _, err := arrival.Submit(ctx, d); err != nil {
		l.Error("record refused webhook", "err", err)
	}
	return c.JSON(http.StatusUnauthorized, webhookAnswer{Error: "signature refused"})
}

// eventData normalises a verified body for the store. A body that is not a
// JSON object is kept, as unparsable, under the hash of its bytes.
func eventData(body []byte) db.WebhookEventData {
	ev, err := stablemint.ParseEvent(body)
	d := db.WebhookEventData{
		Key: ev.Key, Parsed: err == nil, Family: string(ev.Family), Type: ev.Type, Effect: dbEffect(ev.Effect),
		SessionID: ev.SessionID, DepositReference: ev.DepositReference, IdempotencyKey: ev.IdempotencyKey,
		WebsiteReference: ev.WebsiteReference, AmountRaw: ev.AmountRaw, Currency: ev.Currency,
		OccurredAt: ev.OccurredAt, Body: body,
	}
	if exp, ok := stablemint.CurrencyExponent(ev.Currency); ok {
		d.Exponent = exp
	}
	if amt, err := ev.Amount(); err == nil {
		d.AmountMinor, d.AmountKnown = amt.Minor, true
	}
	return d
}

// dbEffect translates the provider's effect into the store's.
func dbEffect(e stablemint.Effect) paylink.Effect {
	switch e {
	case stablemint.EffectProcessing:
		return paylink.EffectProcessing
	case stablemint.EffectPaid:
		return paylink.EffectPaid
	case stablemint.EffectSettled:
		return paylink.EffectSettled
	case stablemint.EffectFailed:
		return paylink.EffectFailed
	}
	return paylink.EffectNone
}

// sampledLog lets a few lines through and counts the rest, so a flood of
// refused webhooks cannot flood the log.
type sampledLog struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
}

func newSampledLog(every rate.Limit, burst int) *sampledLog {
	return &sampledLog{lim: rate.NewLimiter(every, burst)}
}

// allow reports whether to log now and how many lines were dropped since
// the last one logged.
func (s *sampledLog) allow() (bool, int64) {
	if s.lim.Allow() {
		return true, s.suppressed.Swap(0)
	}
	s.suppressed.Add(1)
	return false, 0
}
