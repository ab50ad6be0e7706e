package links

import (
	"context"
	"log/slog"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/jobs"
)

// ExpiryStore is what the expiry sweeper needs. *db.Store implements it.
type ExpiryStore interface {
	ExpireLinks(ctx context.Context, now time.Time, limit int) (int, error)
	PruneRejectedWebhooks(ctx context.Context, before time.Time, limit int) (int, error)
}

// DefaultExpiryInterval is how often the sweeper runs: the contract asks
// for at least once a minute.
const DefaultExpiryInterval = 30 * time.Second

// expiryBatch is the most links one transaction expires; a sweep repeats
// until a batch comes back short, so a backlog never holds the writer long.
const expiryBatch = 500

// ExpirySweeper moves open links whose checkout session has expired to
// expired, each with a timeline line: once when its Job starts (catching
// up after downtime), then every interval. Each sweep
// also drops refused webhook attempts older than db.RejectedRetention.
type ExpirySweeper struct {
	store    ExpiryStore
	now      func() time.Time
	interval time.Duration
	log      *slog.Logger
}

// NewExpirySweeper builds a sweeper. now is its clock (tests inject one);
// interval <= 0 means DefaultExpiryInterval.
func NewExpirySweeper(store ExpiryStore, now func() time.Time, interval time.Duration, log *slog.Logger) *ExpirySweeper {
	if now == nil {
		now = time.Now
	}
	if interval <= 0 {
		interval = DefaultExpiryInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ExpirySweeper{store: store, now: now, interval: interval, log: log.With("component", "expiry")}
}

// Sweep expires every overdue open link now and returns how many, then
// prunes old refused webhook attempts.
func (s *ExpirySweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ExpireLinks(ctx, s.now(), expiryBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < expiryBatch {
			break
		}
	}
	pruned := 0
	for {
		n, err := s.store.PruneRejectedWebhooks(ctx, s.now().Add(-db.RejectedRetention), expiryBatch)
		pruned += n
		if err != nil {
			return total, err
		}
		if n < expiryBatch {
			break
		}
	}
	if pruned > 0 {
		s.log.Info("refused webhook attempts pruned", "count", pruned, "older_than", db.RejectedRetention.String())
	}
	return total, nil
}

// Job runs the sweeper in the background: at start (catching up after
// downtime), then every interval.
func (s *ExpirySweeper) Job() jobs.Job {
	sweep := func(ctx context.Context) error {
		n, err := s.Sweep(ctx)
		if n > 0 {
			s.log.Info("links expired", "count", n)
		}
		return err
	}
	return jobs.Job{Name: "expiry", Interval: s.interval, AtStart: sweep, Run: sweep}
}
