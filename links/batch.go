package links

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
	"github.com/paylinks/paylinks/paylink"
)

// DefaultImportInFlight is how many links of bulk imports are sent to
// StableMint at once unless configured.
const DefaultImportInFlight = 4

// BatchStore is the storage the import job needs. *db.Store implements it.
type BatchStore interface {
	MakeImportLinks(ctx context.Context, limit int) (int, error)
	ImportLinksToMint(ctx context.Context, limit int) ([]int64, error)
	RequeueImportLink(ctx context.Context, id int64, why string) error
	ImportBatchOfLink(ctx context.Context, linkID int64) (batch int64, line int, state string, err error)
	ImportBatchByID(ctx context.Context, id int64) (db.ImportBatch, error)
	LinkByID(ctx context.Context, id int64) (db.Link, error)
	ImportBatchesToCancel(ctx context.Context) ([]int64, error)
	CancelStore
	ImportCancelStore
}

// BatchMinter is the import job: it sends the links of confirmed import
// batches to StableMint through the minter (Minter.Mint: each link with
// its own idempotency key, the attempt committed before the call), at most
// InFlight at a time. When StableMint is unavailable (its circuit breaker
// open, or busy past the client's retries, which honour Retry-After) the
// link goes back in the queue and the job waits, doubling its wait up to a
// minute, then carries on by itself. A link of a cancelled batch that was
// already sent is finished, then cancelled through Cancel.
type BatchMinter struct {
	minter   *Minter
	store    BatchStore
	inFlight int
	breaker  func() string // the client's breaker state; nil: none
	log      *slog.Logger
	now      func() time.Time
	wake     chan struct{}

	mu       sync.Mutex
	resumeAt time.Time
	backoff  time.Duration
	why      string
}

// NewBatchMinter builds the import job's minter; inFlight < 1 takes
// DefaultImportInFlight; breaker, when set, reports the StableMint
// client's circuit breaker ("open" pauses every batch).
func NewBatchMinter(m *Minter, store BatchStore, inFlight int, breaker func() string, log *slog.Logger) *BatchMinter {
	if inFlight < 1 {
		inFlight = DefaultImportInFlight
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BatchMinter{minter: m, store: store, inFlight: inFlight, breaker: breaker, now: m.now,
		log: log.With("component", "imports"), wake: make(chan struct{}, 1)}
}

// Wake asks the job to run now (a batch was confirmed, resumed or retried).
func (b *BatchMinter) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Waiting says why every batch is waiting for StableMint, and until when
// ("" when it is not).
func (b *BatchMinter) Waiting() (string, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.now().Before(b.resumeAt) {
		return b.why, b.resumeAt
	}
	if b.breaker != nil && b.breaker() == "open" {
		return "StableMint is unavailable (several calls in a row failed). The import waits and carries on by itself.", time.Time{}
	}
	return "", time.Time{}
}

// Job runs the import job every interval, at start (a batch a restart
// interrupted carries on, and a Cancel the rest it interrupted is
// finished), and whenever woken.
func (b *BatchMinter) Job(interval time.Duration) jobs.Job {
	return jobs.Job{Name: "imports", Interval: interval, AtStart: b.Start, Run: b.Run, Wake: b.wake}
}

// Start is the job's run at start: it finishes each Cancel the rest an
// earlier process left half done (the batch cancelled, some of its links
// still creating: they are cancelled through the cancel service, as the
// batch's owner), then runs.
func (b *BatchMinter) Start(ctx context.Context) error {
	ids, err := b.store.ImportBatchesToCancel(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		bt, err := b.store.ImportBatchByID(ctx, id)
		if err != nil {
			return err
		}
		n, err := cancelRest(ctx, b.store, bt, bt.CreatedBy, db.AuditEntry{ActorID: bt.CreatedBy})
		b.log.Info("finished cancelling the rest of an import", "batch", id, "links", n)
		if err != nil {
			return err
		}
	}
	return b.Run(ctx)
}

// Run makes the links a confirmation left unmade (a crash between its
// chunks: MakeImportLinks), then sends every queued link of running
// batches, InFlight at a time, until none is left or StableMint is
// unavailable.
func (b *BatchMinter) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := b.store.MakeImportLinks(ctx, db.ImportChunk)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		b.log.Info("made the links of confirmed import rows", "rows", n)
	}
	for ctx.Err() == nil {
		if why, _ := b.Waiting(); why != "" {
			return nil
		}
		ids, err := b.store.ImportLinksToMint(ctx, 8*b.inFlight)
		if err != nil || len(ids) == 0 {
			return err
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		sem := make(chan struct{}, b.inFlight)
		for _, id := range ids {
			if stop.Load() || ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			if stop.Load() { // StableMint turned unavailable while this one waited its turn
				<-sem
				break
			}
			wg.Go(func() {
				defer func() { <-sem }()
				if !b.mintOne(ctx, id) {
					stop.Store(true)
				}
			})
		}
		wg.Wait()
		if stop.Load() {
			return nil
		}
	}
	return nil
}

// mintOne sends one link; false when StableMint was unavailable (the link
// is queued again and the job waits).
func (b *BatchMinter) mintOne(ctx context.Context, id int64) bool {
	err := b.minter.Mint(ctx, id)
	if err != nil && Classify(err).Outcome == "unavailable" {
		ctx := context.WithoutCancel(ctx)
		if rerr := b.store.RequeueImportLink(ctx, id, "StableMint was unavailable; the import sends this row again by itself, with the same key."); rerr != nil {
			b.log.Warn("requeue import link", "link_id", id, "err", rerr)
		}
		b.pause(Classify(err).Sentence)
		return false
	}
	b.mu.Lock()
	b.backoff = 0
	b.mu.Unlock()
	b.cancelIfBatchCancelled(context.WithoutCancel(ctx), id)
	return true
}

func (b *BatchMinter) pause(sentence string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.backoff == 0:
		b.backoff = 2 * time.Second
	case b.backoff < time.Minute:
		b.backoff = min(2*b.backoff, time.Minute)
	}
	b.resumeAt = b.now().Add(b.backoff)
	b.why = "StableMint is unavailable: the import waits and carries on by itself. (" + sentence + ")"
	b.log.Warn("imports waiting for StableMint", "for", b.backoff)
}

// cancelIfBatchCancelled cancels, through Cancel, a link just made for a
// batch staff cancelled while it was being sent.
func (b *BatchMinter) cancelIfBatchCancelled(ctx context.Context, id int64) {
	batch, _, state, err := b.store.ImportBatchOfLink(ctx, id)
	if err != nil || state != db.ImportCancelled {
		return
	}
	l, err := b.store.LinkByID(ctx, id)
	if err != nil || !l.Status.Cancellable() || l.Status == paylink.StatusCancelled {
		return
	}
	bt, err := b.store.ImportBatchByID(ctx, batch)
	if err != nil {
		return
	}
	_, _, err = Cancel(ctx, b.store, id, bt.CreatedBy, Cancellation{Reason: "other", Text: "The import " + bt.FileName + " was cancelled."},
		db.AuditEntry{Action: "link.cancel", ActorID: bt.CreatedBy, Details: "import cancelled"})
	if err != nil {
		b.log.Warn("cancel link of a cancelled import", "link_id", id, "err", err)
	}
}

// ImportCancelStore is the storage an import's Cancel the rest needs.
// *db.Store implements it.
type ImportCancelStore interface {
	ImportBatchByID(ctx context.Context, id int64) (db.ImportBatch, error)
	StopImportBatch(ctx context.Context, id int64, a db.AuditEntry) error
	ImportLinksCreating(ctx context.Context, batchID int64) ([]int64, error)
	CancelLinksStore
}

// cancelChunk is how many links one transaction of Cancel the rest
// cancels, so webhooks and other writes are not kept waiting behind a
// 10,000-row batch.
const cancelChunk = 250

// CancelImportRest is an import's Cancel the rest: the batch stops (no
// call starts for it from now on), then every link of it still creating,
// sent or not, is cancelled through the cancel service (CancelMany, with
// creating allowed), as actor, with the reason "Cancelled with the rest
// of import <file>" on each timeline and the same audit entry as a
// person's cancel, in transactions of cancelChunk links. A call already
// under way for one of them finds it cancelled: its answer is not stored.
// A link made before the cancel stays as it is. It returns how many links
// it cancelled. The work outlives ctx's cancellation (a closed tab); a
// process that stops midway leaves the batch cancelled, and the next
// one's import job finishes it (BatchMinter.Start).
func CancelImportRest(ctx context.Context, store ImportCancelStore, batchID, actor int64, a db.AuditEntry) (int, error) {
	ctx = context.WithoutCancel(ctx)
	bt, err := store.ImportBatchByID(ctx, batchID)
	if err != nil {
		return 0, err
	}
	if err := store.StopImportBatch(ctx, batchID, a); err != nil {
		return 0, err
	}
	return cancelRest(ctx, store, bt, actor, a)
}

// cancelRest cancels a stopped batch's links still creating.
func cancelRest(ctx context.Context, store ImportCancelStore, bt db.ImportBatch, actor int64, a db.AuditEntry) (int, error) {
	ids, err := store.ImportLinksCreating(ctx, bt.ID)
	if err != nil {
		return 0, err
	}
	name := []rune(bt.FileName)
	if len(name) > 200 {
		name = append(name[:199], '…')
	}
	c := Cancellation{Reason: "other", Text: "Cancelled with the rest of import " + string(name)}
	n := 0
	for chunk := range slices.Chunk(ids, cancelChunk) {
		res, errs, err := CancelMany(ctx, store, chunk, actor, c, true, a)
		if errs != nil {
			return n, fmt.Errorf("cancel reason refused: %v", errs)
		}
		if err != nil {
			return n, err
		}
		for _, r := range res {
			if r.Cancelled {
				n++
			}
		}
	}
	return n, nil
}
