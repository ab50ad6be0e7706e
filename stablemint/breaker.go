package stablemint

import (
	"sync"
	"time"
)

// Circuit breaker states, as BreakerState reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// breaker counts consecutive failed calls (a call is all its attempts).
// After threshold of them it opens: calls fail fast until cooldown has
// passed, then one probe call is let through (half-open). The probe's
// success closes the breaker; its failure opens it for another cooldown.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu       sync.Mutex
	state    string
	failures int       // consecutive failed calls while closed
	openedAt time.Time // when it last opened
	probing  bool      // a half-open probe is in flight
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, state: BreakerClosed}
}

// allow reports whether a call may start now and whether it is the
// half-open probe.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if now.Sub(b.openedAt) < b.cooldown {
			return false, false
		}
		b.state = BreakerHalfOpen
	}
	if b.probing {
		return false, false
	}
	b.probing = true
	return true, true
}

// success records a call that reached StableMint and got a final answer.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state, b.failures, b.probing = BreakerClosed, 0, false
}

// failure records a call that ended unavailable.
func (b *breaker) failure(now time.Time, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.state, b.openedAt, b.probing = BreakerOpen, now, false
		return
	}
	if b.state != BreakerClosed {
		return // a call that started before the breaker opened
	}
	b.failures++
	if b.failures >= b.threshold {
		b.state, b.openedAt, b.failures = BreakerOpen, now, 0
	}
}

// abandon records a call the caller cancelled: it proves nothing either way.
func (b *breaker) abandon(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// current reports the state at now; an open breaker whose cool-down has
// passed reports half-open, since the next call will probe.
func (b *breaker) current(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && now.Sub(b.openedAt) >= b.cooldown {
		return BreakerHalfOpen
	}
	return b.state
}
