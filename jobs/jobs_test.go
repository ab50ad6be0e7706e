package jobs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paylinks/paylinks/internal/testkit"
)

func TestJobsRunAtStartOnTheirIntervalAndWhenWoken(t *testing.T) {
	var starts, runs, woken atomic.Int32
	wake := make(chan struct{}, 1)
	r := Start(context.Background(), nil,
		Job{Name: "ticking", Interval: time.Millisecond,
			AtStart: func(context.Context) error { starts.Add(1); return nil },
			Run:     func(context.Context) error { runs.Add(1); return errors.New("fails, runs again") }},
		Job{Name: "woken", Interval: time.Hour, Wake: wake,
			Run: func(context.Context) error { woken.Add(1); return nil }},
	)
	testkit.WaitFor(t, "three runs after a failure", func() bool { return runs.Load() >= 3 })
	wake <- struct{}{}
	testkit.WaitFor(t, "the woken run", func() bool { return woken.Load() == 1 })
	r.Stop()
	if starts.Load() != 1 {
		t.Fatalf("AtStart ran %d times, want once", starts.Load())
	}
}

func TestStopWaitsForARunInProgress(t *testing.T) {
	started, finished := make(chan struct{}), atomic.Bool{}
	r := Start(context.Background(), nil, Job{Name: "slow", Interval: time.Hour,
		AtStart: func(ctx context.Context) error {
			close(started)
			<-ctx.Done() // stopping: the run finishes what it holds
			time.Sleep(10 * time.Millisecond)
			finished.Store(true)
			return ctx.Err()
		},
		Run: func(context.Context) error { return nil }})
	<-started
	r.Stop()
	if !finished.Load() {
		t.Fatal("Stop returned before the run in progress finished")
	}
}
