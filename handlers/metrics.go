package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paylinks/paylinks/db"
)

// observeRequests times every request for
// paylinks_http_request_duration_seconds. It runs outside the request
// logger, which has committed any error response by then.
func (a *app) observeRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil && !c.Response().Committed {
			status = http.StatusInternalServerError
			var he *echo.HTTPError
			if errors.As(err, &he) {
				status = he.Code
			}
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		a.metrics.Request(c.Request().Method, route, status, time.Since(start))
		return err
	}
}

// initMetrics registers the gauges that read the server's state and builds
// the /metrics handler.
func (a *app) initMetrics() {
	m := a.metrics
	if a.opts.Breaker != nil {
		m.Breaker(a.opts.Breaker)
	}
	idle, absolute := a.opts.IdleTimeout, a.opts.AbsoluteTimeout
	m.GaugeFromDB("paylinks_sessions_active", "Signed-in sessions not yet idle or past their maximum age.",
		func(ctx context.Context) (int, error) {
			now := a.now()
			return a.store.CountActiveSessions(ctx, now.Add(-idle), now.Add(-absolute))
		})
	// The outbox's owner adds OutboxDepth to the store; it is picked up here.
	if s, ok := a.store.(interface {
		OutboxDepth(ctx context.Context) (int, error)
	}); ok {
		m.OutboxDepth(s.OutboxDepth)
	}
	var faults []string
	for _, f := range db.StorageFaults {
		faults = append(faults, f.Name)
	}
	m.StorageFault(faults, func() string {
		reason, _ := a.store.WriteFault()
		for _, f := range db.StorageFaults {
			if f.Reason == reason {
				return f.Name
			}
		}
		return ""
	})
	a.metricsHandler = m.Handler(a.opts.MetricsToken)
}

// metricsEndpoint is GET /metrics on the application's own address: only
// with PAYLINKS_METRICS_TOKEN set, 404 otherwise (cmd then serves the
// metrics on PAYLINKS_METRICS_ADDR alone, if given).
func (a *app) metricsEndpoint(c echo.Context) error {
	if a.opts.MetricsToken == "" {
		return echo.ErrNotFound
	}
	a.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
