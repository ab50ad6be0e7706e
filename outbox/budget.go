package outbox

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// SendBudget is each user's budget of customer emails
// (PAYLINKS_MAIL_RATE): a token bucket of PerMinute emails, refilled
// continuously, kept in memory by the process. It is the one rule for
// every customer email a person causes: the link page's Email, the
// batch email and the API take from the budget of the person pressing
// Send, and the import emails (ImportEmails) from the budget of the
// person who confirmed the import. An email the budget refuses now is
// not lost: the pages say so, and an import email waits its turn.
type SendBudget struct {
	mu        sync.Mutex
	perMinute int
	users     map[int64]*rate.Limiter
}

// NewSendBudget gives each user perMinute emails a minute.
func NewSendBudget(perMinute int) *SendBudget {
	return &SendBudget{perMinute: perMinute, users: map[int64]*rate.Limiter{}}
}

// PerMinute is each user's budget.
func (b *SendBudget) PerMinute() int { return b.perMinute }

func (b *SendBudget) limiter(user int64) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim, ok := b.users[user]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(b.perMinute)/60), b.perMinute)
		b.users[user] = lim
	}
	return lim
}

// Allow takes n emails from user's budget at now, or nothing.
func (b *SendBudget) Allow(user int64, n int, now time.Time) bool {
	return b.limiter(user).AllowN(now, n)
}

// Spent reports whether user has no email left at now.
func (b *SendBudget) Spent(user int64, now time.Time) bool {
	return b.limiter(user).TokensAt(now) < 1
}
