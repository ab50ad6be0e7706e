// Package jobs is the one way paylinks runs background work: each Job is a
// name, an interval and a function; Start runs every job in its own
// goroutine and Stop ends them all, waiting for a run in progress to
// finish (a mint or an SMTP attempt is never cut off halfway). The
// composition root (app) lists the jobs; docs/architecture.md says what
// each one does.
package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Job is one piece of background work.
type Job struct {
	Name     string        // for logs: the job's component name
	Interval time.Duration // Run runs every Interval
	Run      func(ctx context.Context) error
	// AtStart, when set, runs once as the job starts, before the first
	// interval: catching up on what piled up while paylinks was down.
	AtStart func(ctx context.Context) error
	// Wake, when set, runs Run at once whenever it receives: work was
	// committed that need not wait for the next interval.
	Wake <-chan struct{}
}

// Runner runs jobs until Stop.
type Runner struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start runs each job in its own goroutine until ctx ends or Stop is
// called. A job's error is logged (unless it came from stopping) and the
// job runs again at its next interval.
func Start(ctx context.Context, log *slog.Logger, jobs ...Job) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Runner{cancel: cancel}
	for _, j := range jobs {
		r.wg.Go(func() { j.loop(ctx, log.With("component", j.Name)) })
	}
	return r
}

// Stop ends every job and waits for any run in progress to return.
func (r *Runner) Stop() {
	r.cancel()
	r.wg.Wait()
}

func (j Job) loop(ctx context.Context, log *slog.Logger) {
	run := func(f func(context.Context) error) {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			log.Error("background job failed; it runs again at its next interval", "job", j.Name, "err", err)
		}
	}
	if j.AtStart != nil {
		run(j.AtStart)
	}
	t := time.NewTicker(j.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-j.Wake:
		}
		run(j.Run)
	}
}
