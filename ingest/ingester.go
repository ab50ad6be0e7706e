// Package ingest stores StableMint's webhook deliveries: the Ingester
// group-commits verified (and refused) deliveries through the single
// writer, and EventData reads a verified body into what the store keeps.
// The web layer verifies the signature first (handlers/webhooks.go); the
// store applies each event to its link by paylink.Match and
// paylink.Decide in the same transaction (db/webhooks_ingest.go).
// docs/architecture.md walks a webhook from the wire to the link.
package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paylinks/paylinks/db"
)

// Store is what the ingester needs: write transactions that
// take deliveries one at a time. *db.Store and *db.WebhookWriter (its
// statements prepared once) implement it.
type Store interface {
	BeginWebhooks(ctx context.Context) (db.WebhookTx, error)
}

// ErrIngesterClosed is returned for deliveries submitted after Close.
var ErrIngesterClosed = errors.New("webhook ingester closed")

// ErrIngesterBusy is returned for a delivery the writer did not take in
// time (Options.MaxWait) or that found too many waiting before it
// (Options.MaxWaiting): nothing of it was stored, and the receiver answers
// 503 at once so that StableMint retries, rather than holding the request
// until it times out.
var ErrIngesterBusy = errors.New("webhook ingester busy: the database writer is saturated")

// Ingester defaults.
const (
	DefaultWebhookBatch  = 64
	DefaultWebhookLinger = time.Millisecond
	// A delivery waits at most DefaultMaxWait for the writer to take it,
	// and none waits when DefaultMaxWaiting already do.
	DefaultMaxWait    = 2 * time.Second
	DefaultMaxWaiting = 4 * DefaultWebhookBatch
)

// Options tune a Ingester; zero values take the defaults.
type Options struct {
	// MaxBatch is the most deliveries one transaction commits.
	MaxBatch int
	// Linger is the longest a batch waits for announced deliveries (see
	// Expect) before committing; negative never waits. The batch's write
	// transaction is open meanwhile, so it also bounds how long one batch
	// can keep other writers waiting (besides its own statements): keep it
	// to a millisecond or two.
	Linger time.Duration
	// MaxWait bounds how long a delivery waits for the writer to take it
	// into a batch; MaxWaiting how many may wait at once. Past either,
	// Submit returns ErrIngesterBusy and nothing is stored. Once taken, a
	// delivery is always answered after its commit.
	MaxWait    time.Duration
	MaxWaiting int
}

// Ingester commits webhook deliveries through the single writer,
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
// did worse: Go's timers fire late at this scale, and a wait for nobody is
// pure latency; docs/performance.md has the figures.)
//
// A caller is answered only after the commit that holds its delivery, or
// with the error that kept it out. If a delivery fails, the transaction is
// rolled back and each delivery it held is retried alone, so one bad
// delivery cannot fail the others; none is ever acknowledged without its
// commit.
type Ingester struct {
	store    Store
	log      *slog.Logger
	maxBatch int
	linger   time.Duration
	maxWait  time.Duration
	maxWaitN int64
	waiting  atomic.Int64   // deliveries waiting to be taken
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

// New starts the writer goroutine; Close stops it.
func New(store Store, log *slog.Logger, o Options) *Ingester {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultWebhookBatch
	}
	if o.Linger == 0 {
		o.Linger = DefaultWebhookLinger
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = DefaultMaxWaiting
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Ingester{store: store, log: log.With("component", "webhooks"), maxBatch: o.MaxBatch, linger: o.Linger,
		maxWait: o.MaxWait, maxWaitN: int64(o.MaxWaiting),
		jobs: make(chan ingestJob), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Expect announces a delivery that is on its way: received, and now being
// verified and parsed. A batch being gathered waits for announced
// deliveries (up to Linger) rather than committing without them. Every
// delivery enters this way: the Arrival must be submitted, or abandoned if
// it never will be.
func (w *Ingester) Expect() *Arrival {
	w.pending.Add(1)
	return &Arrival{w: w}
}

// Arrival is a delivery announced by Expect.
type Arrival struct {
	w    *Ingester
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

func (w *Ingester) submit(ctx context.Context, job ingestJob) (db.WebhookResult, error) {
	job.reply = make(chan ingestReply, 1)
	select {
	case w.jobs <- job: // the writer was waiting
	default:
		if w.waiting.Add(1) > w.maxWaitN {
			w.waiting.Add(-1)
			return db.WebhookResult{}, ErrIngesterBusy
		}
		t := time.NewTimer(w.maxWait)
		defer t.Stop()
		select {
		case w.jobs <- job:
			w.waiting.Add(-1)
		case <-t.C:
			w.waiting.Add(-1)
			return db.WebhookResult{}, ErrIngesterBusy
		case <-w.quit:
			w.waiting.Add(-1)
			return db.WebhookResult{}, ErrIngesterClosed
		case <-ctx.Done():
			w.waiting.Add(-1)
			return db.WebhookResult{}, ctx.Err()
		}
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
func (w *Ingester) Close() {
	w.stop.Do(func() { close(w.quit) })
	<-w.done
}

func (w *Ingester) run() {
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
// interrupt it), a measurable share of the single writer's throughput
// (docs/performance.md).
// Nothing here waits unboundedly: every statement is an indexed write, and
// a wait for the write lock ends after busy_timeout (5 s) with an error,
// which each caller gets.
func (w *Ingester) batch(b *ingestBatch, first ingestJob) {
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
func (w *Ingester) alone(ctx context.Context, d db.WebhookDelivery) (db.WebhookResult, error) {
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
