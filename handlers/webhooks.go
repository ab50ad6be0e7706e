package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/ingest"
	"github.com/paylinks/paylinks/stablemint"
)

// webhookReceiver serves POST /webhooks/stablemint.
type webhookReceiver struct {
	a        *app
	verifier *stablemint.Verifier
	ingester *ingest.Ingester
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
//   - not taken by the writer within 2 s (ingest.ErrIngesterBusy: the
//     writer is saturated): 503 with Retry-After at once, nothing stored;
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
	d.Event = ingest.EventData(body)
	res, err := arrival.Submit(ctx, d)
	if errors.Is(err, ingest.ErrIngesterBusy) {
		// The writer is saturated: nothing was stored; StableMint retries.
		w.a.metrics.WebhookDelivery("unavailable")
		c.Set(ctxBusy, true)
		logFrom(ctx, w.a.log).Warn("webhook not stored: the database writer is saturated; StableMint will retry", "err", err)
		c.Response().Header().Set("Retry-After", "1")
		return c.JSON(http.StatusServiceUnavailable, webhookAnswer{Error: "busy, retry later"})
	}
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
func (w *webhookReceiver) refuse(c echo.Context, arrival *ingest.Arrival, d db.WebhookDelivery, verr error) error {
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
