package outbound

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/paylinks/paylinks/db"
)

// Endpoints is what admins do with endpoints, the one path for the admin
// pages (handlers/webhooks_out.go) and the JSON API (handlers/api_webhooks.go):
// the same checks (the SSRF guard included), the same storage calls and
// the same audit actions, the actor being whoever the entry names (a
// person, or an API key).
type Endpoints struct {
	store  EndpointStore
	worker *Worker
}

// EndpointStore is the storage of Endpoints; *db.Store is one.
type EndpointStore interface {
	CreateOutboundEndpoint(ctx context.Context, ne db.NewOutboundEndpoint, a db.AuditEntry) (db.OutboundEndpoint, error)
	OutboundEndpointByID(ctx context.Context, id int64) (db.OutboundEndpoint, error)
	UpdateOutboundEndpoint(ctx context.Context, id int64, c db.OutboundEndpointChange, a db.AuditEntry) error
	RotateOutboundSecret(ctx context.Context, id int64, secret string, overlap time.Duration, a db.AuditEntry) error
	DeleteOutboundEndpoint(ctx context.Context, id int64, a db.AuditEntry) error
	ResendOutbound(ctx context.Context, id int64, a db.AuditEntry) error
	SendOutboundTest(ctx context.Context, endpointID int64, a db.AuditEntry) (db.OutboundMessage, error)
	ReplayOutbound(ctx context.Context, f db.OutboundFilter, dryRun bool, a db.AuditEntry) (db.ReplayPlan, error)
}

// NewEndpoints is the admins' service over store, waking w after a change
// that queues or frees a message.
func NewEndpoints(store EndpointStore, w *Worker) *Endpoints {
	return &Endpoints{store: store, worker: w}
}

// Audit actions of Endpoints.
const (
	ActionCreate = "webhook_endpoint.create"
	ActionUpdate = "webhook_endpoint.update"
	ActionRotate = "webhook_endpoint.rotate"
	ActionTest   = "webhook_endpoint.test"
	ActionDelete = "webhook_endpoint.delete"
	ActionReplay = "webhook_endpoint.replay"
	ActionResend = "webhook_message.resend"
)

// EndpointInput is an endpoint as an admin writes it (trimmed).
type EndpointInput struct {
	URL         string
	Description string
	Types       []string // in any order; unknown types are refused
	Enabled     bool
}

// FieldErrors are an input's refusals by field: "url", "types",
// "description", with the pages' sentences.
type FieldErrors map[string]string

// Check validates in: at least one known event type, an address the SSRF
// guard lets through (it resolves it), a short description. It returns the
// refusals and the types in OutboundEventTypes' order.
func (s *Endpoints) Check(ctx context.Context, in EndpointInput) (FieldErrors, []string) {
	return s.check(ctx, in, "")
}

// check is Check, with the SSRF guard's resolution left out for an address
// that is stored already (saved): the worker checks it again at every
// connection, so a changed name or a dead host never keeps an admin from
// disabling or relabelling the endpoint.
func (s *Endpoints) check(ctx context.Context, in EndpointInput, saved string) (FieldErrors, []string) {
	errs := FieldErrors{}
	var types []string
	unknown := false
	for _, t := range in.Types {
		if !slices.Contains(db.OutboundEventTypes, t) {
			unknown = true
		}
	}
	for _, t := range db.OutboundEventTypes {
		if slices.Contains(in.Types, t) {
			types = append(types, t)
		}
	}
	switch {
	case unknown:
		errs["types"] = "Choose events from the list: " + strings.Join(db.OutboundEventTypes, ", ") + "."
	case len(types) == 0:
		errs["types"] = "Choose at least one event."
	}
	switch {
	case in.URL == "":
		errs["url"] = "Enter the address that receives the webhooks."
	case len(in.URL) > 2000:
		errs["url"] = "The address is too long (2,000 characters at most)."
	case in.URL == saved:
	default:
		if err := s.worker.Guard().CheckURL(ctx, in.URL); err != nil {
			msg := strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
			errs["url"] = "paylinks refuses this address: " + msg + "."
		}
	}
	if len(in.Description) > 200 {
		errs["description"] = "Keep the description under 200 characters."
	}
	return errs, types
}

// Create checks in and registers it (enabled), returning the endpoint and
// its secret: the only time the secret is shown. A refusal stores nothing.
func (s *Endpoints) Create(ctx context.Context, in EndpointInput, createdBy int64, a db.AuditEntry) (db.OutboundEndpoint, string, FieldErrors, error) {
	errs, types := s.Check(ctx, in)
	if len(errs) > 0 {
		return db.OutboundEndpoint{}, "", errs, nil
	}
	secret := NewSecret()
	a.Action = ActionCreate
	e, err := s.store.CreateOutboundEndpoint(ctx, db.NewOutboundEndpoint{URL: in.URL, Description: in.Description,
		Types: types, Secret: secret, CreatedBy: createdBy}, a)
	if err != nil {
		return db.OutboundEndpoint{}, "", nil, err
	}
	return e, secret, nil, nil
}

// Update checks in and makes it endpoint id's address, events,
// description and state. An unchanged address is not resolved again.
func (s *Endpoints) Update(ctx context.Context, id int64, in EndpointInput, a db.AuditEntry) (FieldErrors, error) {
	old, err := s.store.OutboundEndpointByID(ctx, id)
	if err != nil {
		return nil, err
	}
	errs, types := s.check(ctx, in, old.URL)
	if len(errs) > 0 {
		return errs, nil
	}
	a.Action = ActionUpdate
	if err := s.store.UpdateOutboundEndpoint(ctx, id, db.OutboundEndpointChange{URL: in.URL, Description: in.Description,
		Types: types, Enabled: in.Enabled}, a); err != nil {
		return nil, err
	}
	s.worker.Wake()
	return nil, nil
}

// Rotate gives endpoint id a new secret, returned (shown once); the old
// one still signs, beside it, for RotationOverlap.
func (s *Endpoints) Rotate(ctx context.Context, id int64, a db.AuditEntry) (db.OutboundEndpoint, string, error) {
	secret := NewSecret()
	a.Action = ActionRotate
	if err := s.store.RotateOutboundSecret(ctx, id, secret, RotationOverlap, a); err != nil {
		return db.OutboundEndpoint{}, "", err
	}
	e, err := s.store.OutboundEndpointByID(ctx, id)
	return e, secret, err
}

// SendTest queues a webhook.test message to endpoint id (sent once the
// endpoint is enabled).
func (s *Endpoints) SendTest(ctx context.Context, id int64, a db.AuditEntry) (db.OutboundMessage, error) {
	a.Action = ActionTest
	m, err := s.store.SendOutboundTest(ctx, id, a)
	if err != nil {
		return m, err
	}
	s.worker.Wake()
	return m, nil
}

// Delete removes endpoint id with its delivery log.
func (s *Endpoints) Delete(ctx context.Context, id int64, a db.AuditEntry) error {
	a.Action = ActionDelete
	return s.store.DeleteOutboundEndpoint(ctx, id, a)
}

// ErrPending is Resend's answer for a message waiting to be sent already.
var ErrPending = errors.New("outbound: the message is waiting to be sent already")

// Resend sends message id again, as it was (the same webhook-id).
func (s *Endpoints) Resend(ctx context.Context, id int64, a db.AuditEntry) error {
	a.Action = ActionResend
	err := s.store.ResendOutbound(ctx, id, a)
	if errors.Is(err, db.ErrConflict) {
		return ErrPending
	}
	if err == nil {
		s.worker.Wake()
	}
	return err
}

// Replay counts (dryRun) or queues a bulk replay of the failed messages f
// selects (db.Store.ReplayOutbound).
func (s *Endpoints) Replay(ctx context.Context, f db.OutboundFilter, dryRun bool, a db.AuditEntry) (db.ReplayPlan, error) {
	a.Action = ActionReplay
	plan, err := s.store.ReplayOutbound(ctx, f, dryRun, a)
	if err == nil && !dryRun {
		s.worker.Wake()
	}
	return plan, err
}
